//! Fuzz target: `netproto::checks::dns_parse` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netproto::checks::dns_parse(data));
