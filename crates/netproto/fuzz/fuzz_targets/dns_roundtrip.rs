//! Fuzz target: `netproto::checks::dns_roundtrip` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netproto::checks::dns_roundtrip(data));
