//! The standalone `vpnd` binary (host tests; see [`vpnd::main`]). On a device, vpnd and
//! `vpn` are applets of the multi-call /bin/oxwrt (crates/multicall).

fn main() {
    let args = oxwrt_log::args();
    // Called as `vpn` (a link or a copy): the command-line tool.
    let prog = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    let code = if prog == "vpn" { vpnd::cli::main(args) } else { vpnd::main(args) };
    std::process::exit(code);
}
