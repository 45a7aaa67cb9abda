//! Giving memory back to the operating system after work on large documents.
//!
//! Checking or rendering a package index holds its whole document in memory for a moment (a
//! 20 MB packument, a 50 MB helm index). glibc's allocator keeps freed memory for reuse: it
//! raises its mmap threshold to the size of the largest block freed (up to 32 MiB), so later
//! large buffers come from heaps it never shrinks, and a busy hour leaves the process holding
//! its peak. [`tune`] fixes the threshold, so large buffers are mapped on their own and unmapped
//! when freed; [`release`] hands back what the heaps hold free after a large piece of work. On
//! other platforms both do nothing.

/// Large blocks are mapped on their own at and above this size: above the store's read chunks
/// and the network's buffers (mapping those would cost a page fault per page of every file
/// served), below the documents.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 << 20;

/// Free memory a heap keeps at its top for reuse before it gives it back by itself. Fixing the
/// mmap threshold also fixes this one, at a default (128 KiB) small enough that the buffers of
/// every file served would be given back and faulted in again, page by page, chunk after chunk.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 32 << 20;

/// Sets the allocator up to give large blocks back when they are freed. Call once, at start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads
    // allocate and with documented parameters and values.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
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
