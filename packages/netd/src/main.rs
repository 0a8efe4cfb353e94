//! `netd`: the network daemon, started by init. `netd --version` prints the version;
//! `netd --root DIR` reads and writes under DIR instead of / (DIR/etc/oxwrt,
//! DIR/run/netd, ...: for tests and trying netd on a development machine, in a network
//! namespace). Logs go to standard error (`netd: ...`), which init keeps in the log ring.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => std::process::exit(netd::run(netd::Paths::device())),
        ["--root", dir] => std::process::exit(netd::run(netd::Paths::under(std::path::Path::new(dir)))),
        ["--version"] => {
            if writeln!(std::io::stdout().lock(), "netd {}", env!("CARGO_PKG_VERSION")).is_err() {
                std::process::exit(1);
            }
        }
        _ => {
            netd::say!("usage: netd [--root DIR | --version] (configuration: /etc/oxwrt/network.toml)");
            std::process::exit(2);
        }
    }
}
