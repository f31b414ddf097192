//! Fuzz target `dates`: runs [`checks::dates`] on every input libFuzzer generates.

#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dates(data));
