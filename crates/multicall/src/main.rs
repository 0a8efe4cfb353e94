//! `oxwrt`: the multi-call binary of an oxwrt image, busybox-style. `cargo xtask` links the
//! applets of the board's packages (package.toml `[applets]`) into this one program, with
//! LTO across all of them, so that std, the allocator, serde, the netlink core and the HTTP
//! stack are in flash once and their pages are shared in RAM by every process.
//!
//! The applet is the name it was started as (`/usr/sbin/netd`, a symlink to /bin/oxwrt, runs
//! `netd`), or the first argument (`oxwrt netd --version`). `oxwrt --list` prints the
//! applets. The applet's entry gets the arguments with its own name first and returns the
//! exit status. When the kernel starts it as process 1 under a name that is no applet
//! (`init=/bin/oxwrt`), it runs `init`.

use std::io::Write;

/// An applet's entry: its arguments (its own name first) -> the exit status.
type Entry = fn(Vec<String>) -> i32;

include!(concat!(env!("OUT_DIR"), "/applets.rs"));

fn find(name: &str) -> Option<Entry> {
    APPLETS.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| APPLETS[i].1)
}

fn basename(arg: &str) -> &str {
    arg.rsplit('/').next().unwrap_or(arg)
}

fn usage(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "usage: oxwrt APPLET [ARGS...], or run it through a link named after the applet")?;
    writeln!(out, "applets: {}", APPLETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" "))
}

fn main() {
    let mut args = oxwrt_log::args();
    let name = args.first().map(|a| basename(a).to_string()).unwrap_or_default();
    if let Some(entry) = find(&name) {
        std::process::exit(entry(args));
    }
    if std::process::id() == 1 {
        if let Some(entry) = find("init") {
            args[0] = "init".into();
            std::process::exit(entry(args));
        }
    }
    let status = match args.get(1).map(String::as_str) {
        Some("--list") => i32::from(APPLETS.iter().try_for_each(|(n, _)| writeln!(std::io::stdout().lock(), "{n}")).is_err()),
        Some("--help") | Some("-h") => i32::from(usage(&mut std::io::stdout().lock()).is_err()),
        Some(applet) => match find(basename(applet)) {
            Some(entry) => {
                args.remove(0);
                entry(args)
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "oxwrt: no applet `{applet}` in this binary");
                let _ = usage(&mut err);
                2
            }
        },
        None => {
            let _ = usage(&mut std::io::stderr().lock());
            2
        }
    };
    std::process::exit(status);
}
