#!/usr/bin/env bash
# Runs every fuzz target of oxwrt-netlink for SECONDS each (default 60); see README.md.
# No sanitizer by default: the crate's only unsafe, src/socket.rs, is never reached from the fuzzed parsers.
#
#   crates/netlink/fuzz/run.sh [SECONDS]
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../../fuzz.sh" "$here" "$@"
