//! The standalone `sqmd` binary (host tests; see [`sqmd::main`]). On a device, sqmd is an
//! applet of the multi-call /bin/oxwrt (crates/multicall), as is `sqm`.

fn main() {
    std::process::exit(sqmd::main(oxwrt_log::args()));
}
