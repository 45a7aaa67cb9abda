//! Giving memory back to the operating system after work on large documents.
//!
//! Checking or rendering a package index holds its whole document in memory for a moment (a
//! 20 MB packument, a 50 MB helm index). glibc's allocator keeps freed memory for reuse: it
//! raises its mmap threshold to the size of the largest block freed (up to 32 MiB), so later
//! large buffers come from heaps it never shrinks, and a busy hour leaves the process holding
//! its peak. [`tune`] fixes the threshold, so large buffers are mapped on their own and unmapped
//! when freed; [`release`] hands back what the heaps hold free after a large piece of work. On
//! other platforms both do nothing.

/// Large blocks are mapped on their own at and above this size.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 256 << 10;

/// Sets the allocator up to give large blocks back when they are freed. Call once, at start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads
    // allocate and with a documented parameter and value.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns the free memory of the allocator's heaps to the operating system (after checking or
/// rendering a large document).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
