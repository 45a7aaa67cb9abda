//! What the measurement tests share: a counting allocator.

pub mod alloc;
