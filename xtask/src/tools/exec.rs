//! Running external commands: logged to a file, shown as a spinner (or streamed with -v),
//! and reported with the command, its exit status and the log's tail when they fail.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines of a failing command's log shown to the user.
const TAIL_LINES: usize = 25;

/// How commands report progress.
#[derive(Clone, Debug)]
pub struct Runner {
    /// Stream every line of output instead of a spinner.
    pub verbose: bool,
    /// Where step logs go (target/oxwrt/<board>/logs).
    pub log_dir: PathBuf,
}

/// A command line as text, for messages.
pub fn display(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("   (in {})", dir.display()));
    }
    s
}

impl Runner {
    /// Run `cmd` as step `step` (the log is `<log_dir>/<step>.log`), with a spinner titled
    /// `title`. Output goes to the log; on failure the error names the command, the exit
    /// status, the log and shows its last lines.
    pub fn run(&self, step: &str, title: &str, cmd: &mut Command) -> Result<()> {
        std::fs::create_dir_all(&self.log_dir).with_context(|| format!("creating {}", self.log_dir.display()))?;
        let log_path = self.log_dir.join(format!("{step}.log"));
        let mut log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        writeln!(log, "$ {}", display(cmd))?;
        let started = Instant::now();
        let bar = if self.verbose { ProgressBar::hidden() } else { spinner(title) };
        if self.verbose {
            eprintln!("==> {title}\n$ {}", display(cmd));
        }
        // One pipe for stdout and stderr keeps their lines in the order they were written.
        let (reader, writer) = std::io::pipe()?;
        cmd.stdin(Stdio::null()).stdout(writer.try_clone()?).stderr(writer);
        let mut child =
            cmd.spawn().with_context(|| format!("cannot start `{}`: is it installed? (cargo xtask doctor)", cmd.get_program().to_string_lossy()))?;
        // Drop the parent's copies of the write end (held by `cmd`) so the reader sees EOF.
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let reader_thread = {
            let (tail, bar, verbose) = (tail.clone(), bar.clone(), self.verbose);
            std::thread::spawn(move || {
                for line in BufReader::new(reader).split(b'\n').map_while(|l| l.ok()) {
                    let line = String::from_utf8_lossy(&line).into_owned();
                    let _ = writeln!(log, "{line}");
                    if verbose {
                        eprintln!("{line}");
                    } else {
                        bar.set_message(line.chars().take(70).collect::<String>());
                    }
                    let mut t = tail.lock().unwrap();
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            })
        };
        let status = child.wait()?;
        let _ = reader_thread.join();
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        if status.success() {
            eprintln!("    {title}: done in {secs:.1} s");
            return Ok(());
        }
        let tail = tail.lock().unwrap().iter().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n");
        bail!(
            "{title} failed: `{}` exited with {status} after {secs:.1} s.\nLast lines of its log ({}):\n{tail}\nRun again with -v to stream the whole output.",
            display(cmd),
            log_path.display()
        )
    }
}

fn spinner(title: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}").unwrap());
    bar.set_prefix(title.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Run a short command and return its stdout (trimmed); errors name the command.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !out.status.success() {
        bail!("`{}` exited with {}: {}", display(cmd), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a program is on PATH (or is an existing path).
pub fn which(program: impl AsRef<OsStr>) -> Option<PathBuf> {
    let p = Path::new(program.as_ref());
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(p)).find(|c| c.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_is_reported_with_status_and_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Runner { verbose: false, log_dir: dir.path().join("logs") };
        let err = runner
            .run("demo", "demo step", Command::new("sh").args(["-c", "for i in $(seq 1 40); do echo line $i; done; echo oops >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("demo step failed: `sh -c 'for i in"), "{err}");
        assert!(err.contains("exited with exit status: 3"), "{err}");
        assert!(err.contains(&format!("Last lines of its log ({}):", dir.path().join("logs/demo.log").display())), "{err}");
        assert!(err.contains("    | oops") && err.contains("    | line 40") && !err.contains("    | line 1\n"), "{err}");
        let log = std::fs::read_to_string(dir.path().join("logs/demo.log")).unwrap();
        assert!(log.starts_with("$ sh -c") && log.contains("line 1\n") && log.contains("oops\n"));
    }
}
