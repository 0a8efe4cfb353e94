//! Fuzz target: `netlink::checks::messages` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netlink::checks::messages(data));
