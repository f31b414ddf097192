//! Fuzz target `money`: runs [`checks::money`] on every input libFuzzer generates.

#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::money(data));
