//! Fuzz target: `netlink::checks::replies` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netlink::checks::replies(data));
