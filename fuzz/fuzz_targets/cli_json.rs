#![no_main]
//! See `om_secrets_fuzz::cli_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| om_secrets_fuzz::cli_json(data));
