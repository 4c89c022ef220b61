//! Returning the heap's free pages to the system once the models are loaded.
//!
//! Loading leaves freed memory behind: tokenizer files, f32 weights dequantised then
//! converted, a model's temporary buffers. glibc keeps those pages in its heaps, where no
//! later allocation of another size may reuse them; with the default pack that is about
//! 75 MB of resident memory that holds nothing (docs/benchmarks.md, "Start time and memory").
//! `malloc_trim(0)` hands every free page back, once, after the last model is in.

/// Gives the free pages of every glibc heap back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_pages() {
    // SAFETY: malloc_trim takes no pointers and only releases memory the allocator holds
    // free; it is safe to call from any thread at any time.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(
        released = released != 0,
        "returned free heap pages to the system"
    );
}

/// Other allocators return free memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_pages() {}
