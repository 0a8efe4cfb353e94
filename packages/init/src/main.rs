//! The standalone `init` binary (host tests; see [`oxinit::main`]). On a device, init's
//! applets are usually part of the multi-call /bin/oxwrt (crates/multicall).

fn main() {
    std::process::exit(oxinit::main(oxwrt_log::args()));
}
