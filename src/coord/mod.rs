//! The coordinator implementations (to be written).
