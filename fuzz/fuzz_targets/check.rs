#![no_main]
//! See `om_secrets_fuzz::check`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| om_secrets_fuzz::check(data));
