//! The standalone `webd` binary (host tests; see [`webd::main`]). On a device, webd is
//! usually an applet of the multi-call /bin/oxwrt (crates/multicall).

fn main() {
    std::process::exit(webd::main(oxwrt_log::args()));
}
