//! Code that only start-up ran, let go of: nothing on macOS, whose `MADV_DONTNEED` is only a
//! hint for anonymous memory and whose resident figure counts the shared cache differently.

/// Does nothing (see the module's doc).
pub fn release_code() {}
