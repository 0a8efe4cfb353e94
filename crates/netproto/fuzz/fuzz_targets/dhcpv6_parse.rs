//! Fuzz target: `netproto::checks::dhcpv6_parse` (DHCPv6 and router solicitations and
//! advertisements) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netproto::checks::dhcpv6_parse(data));
