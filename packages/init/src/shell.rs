//! `oxsh`, the console shell: a line at a time, words split on blanks with '…' and "…"
//! quoting, `> file` and `>> file` redirection, the device's commands as builtins and any
//! other program by path or from PATH. No scripting: oxwrt has no shell scripts.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Command;

const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

const BUILTINS: &str = "\
  help                          this text
  cat FILE...   ls [DIR...]   echo WORDS   mkdir DIR   rm FILE   cd DIR   pwd
  ps                            processes (from /proc)
  kill [-SIGNAL] PID            e.g. kill -9 123, kill -TERM 123
  uptime   free   dmesg         load and uptime, memory, kernel messages
  date                          the time (UTC, and seconds since 1970)
  exit                          leave (init starts a new shell)
  COMMAND > FILE, >> FILE       write or append a command's output to FILE";

/// Splits a command line into words; Err on an unterminated quote.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!("missing closing {q}"));
    }
    words.extend(word);
    Ok(words)
}

/// A parsed line: the words and where the output goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub words: Vec<String>,
    pub redirect: Option<(String, bool)>, // (file, append)
}

pub fn parse(line: &str) -> Result<Line, String> {
    let mut words = split(line)?;
    let mut redirect = None;
    if let Some(pos) = words.iter().position(|w| w == ">" || w == ">>") {
        let append = words[pos] == ">>";
        let rest: Vec<String> = words.drain(pos..).skip(1).collect();
        match rest.as_slice() {
            [file] => redirect = Some((file.clone(), append)),
            _ => return Err("a redirection takes exactly one file name".into()),
        }
    }
    Ok(Line { words, redirect })
}

/// An error on standard error; a console that fails is noticed at the next prompt.
fn complain(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Runs the shell; the exit status. Writes block (an interactive console), but a console
/// that fails (EIO once it hung up) ends the shell instead of panicking it: init starts a
/// new one.
pub fn main() -> i32 {
    if let Ok(banner) = fs::read_to_string("/etc/banner") {
        if writeln!(std::io::stdout().lock(), "{banner}").is_err() {
            return 1;
        }
    }
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "oxwrt".into());
        let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        if write!(stdout, "root@{host}:{cwd}# ").and_then(|_| stdout.flush()).is_err() {
            return 1;
        }
        drop(stdout);
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(e) => {
                complain(format_args!("oxsh: {e}"));
                return 1;
            }
        }
        match parse(&line) {
            Ok(l) if l.words.is_empty() => {}
            Ok(l) if l.words[0] == "exit" => return 0,
            Ok(l) => {
                if let Err(e) = execute(&l) {
                    complain(format_args!("{}: {e}", l.words[0]));
                }
            }
            Err(e) => complain(format_args!("oxsh: {e}")),
        }
    }
}

fn execute(l: &Line) -> Result<(), String> {
    let mut out: Box<dyn Write> = match &l.redirect {
        None => Box::new(std::io::stdout()),
        Some((file, append)) => {
            Box::new(OpenOptions::new().create(true).write(true).append(*append).truncate(!*append).open(file).map_err(|e| format!("{file}: {e}"))?)
        }
    };
    let Some((cmd, args)) = l.words.split_first() else { return Ok(()) };
    let cmd = cmd.as_str();
    let io = |e: std::io::Error| e.to_string();
    match cmd {
        "help" => writeln!(out, "builtins:\n{BUILTINS}\n{}", crate::commands::HELP).map_err(io),
        "echo" => writeln!(out, "{}", args.join(" ")).map_err(io),
        "cat" => {
            for f in args {
                out.write_all(&fs::read(f).map_err(|e| format!("{f}: {e}"))?).map_err(io)?;
            }
            Ok(())
        }
        "ls" => {
            let dirs = if args.is_empty() { vec![".".to_string()] } else { args.to_vec() };
            for d in dirs {
                let meta = fs::symlink_metadata(&d).map_err(|e| format!("{d}: {e}"))?;
                if !meta.is_dir() {
                    writeln!(out, "{d}").map_err(io)?;
                    continue;
                }
                let mut names: Vec<String> = fs::read_dir(&d)
                    .map_err(|e| format!("{d}: {e}"))?
                    .flatten()
                    .map(|e| {
                        let suffix = match e.file_type() {
                            Ok(t) if t.is_dir() => "/",
                            Ok(t) if t.is_symlink() => "@",
                            _ => "",
                        };
                        format!("{}{suffix}", e.file_name().to_string_lossy())
                    })
                    .collect();
                names.sort();
                writeln!(out, "{}", names.join("  ")).map_err(io)?;
            }
            Ok(())
        }
        "mkdir" => args.iter().try_for_each(|d| fs::create_dir_all(d).map_err(|e| format!("{d}: {e}"))),
        "rm" => args.iter().try_for_each(|f| fs::remove_file(f).map_err(|e| format!("{f}: {e}"))),
        "cd" => std::env::set_current_dir(args.first().map(String::as_str).unwrap_or("/root")).map_err(io),
        "pwd" => writeln!(out, "{}", std::env::current_dir().map_err(io)?.display()).map_err(io),
        "uptime" => {
            let up = fs::read_to_string("/proc/uptime").map_err(io)?;
            let load = fs::read_to_string("/proc/loadavg").map_err(io)?;
            let secs = up.split_whitespace().next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0) as u64;
            let l: Vec<&str> = load.split_whitespace().take(3).collect();
            writeln!(out, "up {}d {:02}:{:02}:{:02}, load average: {}", secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60, l.join(", ")).map_err(io)
        }
        "date" => {
            let now = std::time::SystemTime::now().duration_since(std::time::SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            // Local time in the zone of /etc/oxwrt/time.toml (UTC without one).
            let tz = match oxwrt_config::Time::load(std::path::Path::new(oxwrt_config::DIR)) {
                Ok(t) => t.tz(),
                Err(e) => {
                    writeln!(out, "date: {e}; showing UTC").map_err(io)?;
                    oxwrt_log::Tz::utc()
                }
            };
            writeln!(out, "{} ({now})", oxwrt_log::format_local(now, &tz)).map_err(io)
        }
        "free" => {
            let info = fs::read_to_string("/proc/meminfo").map_err(io)?;
            for key in ["MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Shmem"] {
                if let Some(l) = info.lines().find(|l| l.starts_with(&format!("{key}:"))) {
                    writeln!(out, "{l}").map_err(io)?;
                }
            }
            Ok(())
        }
        "dmesg" => {
            let mut buf = Vec::new();
            crate::control::call(&crate::control::Request::Log, &mut buf)?;
            for l in String::from_utf8_lossy(&buf).lines().filter(|l| l.contains("] kernel: ")) {
                writeln!(out, "{l}").map_err(io)?;
            }
            Ok(())
        }
        "ps" => {
            writeln!(out, "{:>6} {:>8}  COMMAND", "PID", "RSS(KiB)").map_err(io)?;
            let mut pids: Vec<u32> = fs::read_dir("/proc").map_err(io)?.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
            pids.sort();
            for pid in pids {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string());
                let rss = field("VmRSS:").map(|v| v.trim_end_matches(" kB").to_string()).unwrap_or_else(|| "-".into());
                let cmd = if cmdline.is_empty() {
                    format!("[{}]", field("Name:").unwrap_or_default())
                } else {
                    String::from_utf8_lossy(&cmdline).replace('\0', " ").trim_end().to_string()
                };
                writeln!(out, "{pid:>6} {rss:>8}  {cmd}").map_err(io)?;
            }
            Ok(())
        }
        "kill" => {
            let (sig, pids) = match args.split_first() {
                Some((s, rest)) if s.starts_with('-') => (parse_signal(&s[1..])?, rest),
                _ => (nix::sys::signal::Signal::SIGTERM, args),
            };
            if pids.is_empty() {
                return Err("usage: kill [-SIGNAL] PID...".into());
            }
            for p in pids {
                let pid: i32 = p.parse().map_err(|_| format!("{p}: not a process id"))?;
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).map_err(|e| format!("{pid}: {e}"))?;
            }
            Ok(())
        }
        _ => {
            // The applets print their own errors.
            if crate::commands::run(cmd, args, &mut out).is_some() {
                return Ok(());
            }
            external(cmd, args, l)
        }
    }
}

fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, String> {
    use nix::sys::signal::Signal;
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("unknown signal {n}"));
    }
    let name = if s.starts_with("SIG") { s.to_string() } else { format!("SIG{s}") };
    name.parse::<Signal>().map_err(|_| format!("unknown signal {s}"))
}

fn external(cmd: &str, args: &[String], l: &Line) -> Result<(), String> {
    let path = if cmd.contains('/') { Some(cmd.to_string()) } else { PATH.split(':').map(|d| format!("{d}/{cmd}")).find(|p| Path::new(p).is_file()) };
    let Some(path) = path else { return Err("command not found (try `help`)".into()) };
    let mut c = Command::new(&path);
    c.args(args);
    if let Some((file, append)) = &l.redirect {
        let f = OpenOptions::new().create(true).write(true).append(*append).truncate(!*append).open(file).map_err(|e| format!("{file}: {e}"))?;
        c.stdout(f);
    }
    let status = c.status().map_err(|e| format!("{path}: {e}"))?;
    if !status.success() {
        complain(format_args!("{cmd}: {status}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_redirects() {
        assert_eq!(split(r#"echo 'a b' "c'd" e"#).unwrap(), ["echo", "a b", "c'd", "e"]);
        assert_eq!(split("echo ''").unwrap(), ["echo", ""]);
        assert_eq!(split("echo 'oops").unwrap_err(), "missing closing '");
        let l = parse("echo hello world > /etc/x").unwrap();
        assert_eq!((l.words, l.redirect), (vec!["echo".to_string(), "hello".into(), "world".into()], Some(("/etc/x".to_string(), false))));
        assert_eq!(parse("cat a >> b").unwrap().redirect, Some(("b".into(), true)));
        assert!(parse("echo > a b").is_err());
    }

    #[test]
    fn signals_by_name_and_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGHUP").unwrap(), Signal::SIGHUP);
        assert!(parse_signal("NOPE").is_err());
    }
}
