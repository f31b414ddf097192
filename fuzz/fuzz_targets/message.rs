//! Fuzz target `message`: runs [`checks::message`] on every input libFuzzer generates.

#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::message(data));
