//! The host's clock (the same one that backs `std::time::SystemTime` in a step).

/// Milliseconds since the Unix epoch, UTC.
pub fn now_millis() -> u64 {
    crate::wit::clock::now_millis()
}
