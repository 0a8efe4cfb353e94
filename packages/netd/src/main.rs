//! The standalone `netd` binary (host tests; see [`netd::main`]). On a device, netd is
//! usually an applet of the multi-call /bin/oxwrt (crates/multicall).

fn main() {
    std::process::exit(netd::main(oxwrt_log::args()));
}
