#!/usr/bin/env bash
# Runs every fuzz target of oxwrt-netproto for SECONDS each (default 60); see README.md.
# No sanitizer by default: the crate forbids unsafe code.
#
#   crates/netproto/fuzz/run.sh [SECONDS]
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../../fuzz.sh" "$here" "$@"
