#![no_main]
//! See `om_secrets_fuzz::secret_id`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| om_secrets_fuzz::secret_id(data));
