//! The standalone `timed` binary (host tests; see [`timed::main`]). On a device, timed is
//! usually an applet of the multi-call /bin/oxwrt (crates/multicall).

fn main() {
    std::process::exit(timed::main(oxwrt_log::args()));
}
