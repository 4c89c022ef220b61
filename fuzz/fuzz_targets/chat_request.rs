#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ingot_fuzz::chat_request(data));
