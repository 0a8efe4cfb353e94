//! Fuzz target: `netproto::checks::dhcp_parse` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netproto::checks::dhcp_parse(data));
