#!/usr/bin/env bash
# Runs every cargo-fuzz target of one crate's fuzz/ directory for SECONDS each (default 60)
# and fails on the first crash, panic, leak, timeout or out-of-memory. Each crate's
# fuzz/run.sh calls it; see crates/netproto/fuzz/README.md.
#
#   crates/fuzz.sh FUZZ_DIR [SECONDS]
#
# Environment: FUZZ_SANITIZER (none, the default: the fuzzed parsers are safe code and std
# is not instrumented, so ASan would find nothing more, several times slower; or address),
# FUZZ_TARGET_DIR (cargo's target dir for the fuzz build; default FUZZ_DIR/target).
set -euo pipefail
here="$(cd "${1:?usage: fuzz.sh FUZZ_DIR [SECONDS]}" && pwd)"
secs="${2:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 FUZZ_DIR [SECONDS]" >&2; exit 2 ;; esac
cd "$here"
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-fuzz passes -Z flags (sanitizer, sancov) to rustc: allowed on stable this way.
export RUSTC_BOOTSTRAP=1
# The Rust toolchain of the rest of the repo (rustup's), not Debian's cross one.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
sanitizer="${FUZZ_SANITIZER:-none}"
target_dir="${FUZZ_TARGET_DIR:-$here/target}"

command -v c++ >/dev/null || { echo "run.sh: libFuzzer needs a C++ compiler: apt-get install g++" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked --version 0.13.2
fi

fuzz=(cargo fuzz)
opts=(--sanitizer "$sanitizer" --target-dir "$target_dir")
"${fuzz[@]}" build "${opts[@]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for t in $("${fuzz[@]}" list); do
    echo "run.sh: $t for ${secs}s"
    # New inputs go to a scratch corpus; the committed seeds (corpus/$t) are only read.
    mkdir -p "$work/$t" "artifacts/$t"
    if ! "${fuzz[@]}" run "${opts[@]}" "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" 2>"$work/$t.log"; then
        grep -E -A2 'panicked at' "$work/$t.log" >&2 || true
        tail -n 25 "$work/$t.log" >&2
        echo "run.sh: $t FAILED; the input is in $here/artifacts/$t/ (replay: cargo fuzz run $t <file>)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$work/$t.log" || true
done
echo "run.sh: all targets ran ${secs}s each without a failure"
