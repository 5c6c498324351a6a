//! The Tokio runtime each function's `main` runs on.
//!
//! A function's `main` is one call to a synchronous, non-generic entry point here
//! ([`crate::api::main`], [`crate::bootstrap::main`], [`crate::discovery::main`]) rather than an
//! `#[tokio::main]` awaiting this crate's `serve`: the future of an `async fn` is compiled in the
//! crate that polls it, so awaiting it from a function's binary compiled the whole request path
//! again in every binary (15–60 s each in the optimised profiles). Polled here, it is compiled
//! once, and each binary still links only the code its entry point reaches.

/// The multi-threaded runtime `#[tokio::main]` builds (one worker per CPU, every driver on).
///
/// # Errors
/// The runtime could not be built (threads or the I/O driver could not be created).
pub(crate) fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
