//! Fuzz target `entry_body`: runs [`checks::entry_body`] on every input libFuzzer generates.

#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::entry_body(data));
