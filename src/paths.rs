//! Request paths (to be written).
