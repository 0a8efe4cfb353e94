//! `/etc/oxwrt/web.toml`: the web interface's (webd) session timeouts.
//!
//! ```toml
//! # session_idle = 900     # seconds: a session ends after this long without a page or form
//! #                        # (background polling of /api/... does not count); 1 to 86400
//! # session_max = 43200    # seconds: and after this long in any case; session_idle to 604800
//! ```
//!
//! A missing or empty file means these defaults. webd reads it at start (`service restart
//! webd` after editing); its `--session-idle`/`--session-max` options override it.
//! Reference: docs/web-ui.md, "Security design".

use crate::problem::{self, File, Problem, Problems};
use crate::span::{Seg, Source};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const WEB_FILE: &str = "web.toml";
/// The longest idle timeout: a day.
pub const MAX_IDLE: u64 = 86_400;
/// The longest absolute timeout: a week.
pub const MAX_SESSION: u64 = 7 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    pub session_idle: u64,
    pub session_max: u64,
}

impl Default for Web {
    fn default() -> Web {
        Web { session_idle: 15 * 60, session_max: 12 * 3600 }
    }
}

impl Web {
    /// Parses and validates web.toml's text ("" = all defaults); problems name the line and
    /// key.
    pub fn parse(text: &str) -> Result<Web, Problems> {
        problem::parse_checked(File::Web, text, |web: &Web, src| web.check(src))
    }

    /// Reads `dir`/web.toml (normally [`crate::DIR`]); a missing file means the defaults.
    pub fn load(dir: &Path) -> Result<Web, Error> {
        let text = crate::read_or_empty(&dir.join(WEB_FILE))?;
        Web::parse(&text).map_err(Error::Invalid)
    }

    fn check(&self, src: Option<&Source>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut push = |key: &'static str, message: String| {
            let path = [Seg::Key(key)];
            problems.push(Problem { file: File::Web, key: crate::span::path_string(&path), line_col: src.and_then(|s| s.locate(&path)), message });
        };
        if !(1..=MAX_IDLE).contains(&self.session_idle) {
            push("session_idle", format!("{} s: use 1 to {MAX_IDLE} seconds", self.session_idle));
        }
        if self.session_max < self.session_idle || self.session_max > MAX_SESSION {
            push("session_max", format!("{} s: use session_idle ({} s) to {MAX_SESSION} seconds", self.session_max, self.session_idle));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Web::parse("").unwrap(), Web::default());
        let w = Web::parse("session_idle = 5\n").unwrap();
        assert_eq!((w.session_idle, w.session_max), (5, 43200));
    }

    #[test]
    fn problems_name_the_line_and_key() {
        let e = Web::parse("session_idle = 0\n").unwrap_err().to_string();
        assert!(e.contains("web.toml:1:") && e.contains("session_idle: 0 s: use 1 to 86400 seconds"), "{e}");
        let e = Web::parse("session_idle = 600\nsession_max = 60\n").unwrap_err().to_string();
        assert!(e.contains("web.toml:2:") && e.contains("session_max: 60 s"), "{e}");
        let e = Web::parse("idle = 5\n").unwrap_err().to_string();
        assert!(e.contains("web.toml:1:1") && e.contains("unknown field"), "{e}");
        let e = Web::parse("session_idle = \"5\"\n").unwrap_err().to_string();
        assert!(e.contains("web.toml:1:"), "{e}");
    }
}
