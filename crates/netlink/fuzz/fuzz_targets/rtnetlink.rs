//! Fuzz target: `netlink::checks::rtnetlink` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netlink::checks::rtnetlink(data));
