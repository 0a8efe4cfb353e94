//! Problems found in the configuration files, located in their source: which file, which
//! dotted key (`dhcp.static[2].ip`), which line and column, and what to do about it.
//!
//! Locations come from [`crate::span`] (toml's own spans), so this needs no other TOML
//! library on the device.

use crate::span::{line_col, Source};
use std::fmt;

/// One of the configuration files under /etc/oxwrt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum File {
    Network,
    Firewall,
    /// /etc/oxwrt/sqm.toml ([`crate::sqm`]).
    Sqm,
    /// /etc/oxwrt/time.toml.
    Time,
    /// /etc/oxwrt/vpn.toml ([`crate::vpn`]), read by vpnd and netd.
    Vpn,
    /// /etc/oxwrt/web.toml ([`crate::web`]), read by webd.
    Web,
}

impl File {
    /// The file's name in the configuration directory.
    pub fn name(self) -> &'static str {
        match self {
            File::Network => crate::NETWORK_FILE,
            File::Firewall => crate::FIREWALL_FILE,
            File::Sqm => crate::sqm::FILE,
            File::Time => crate::time::TIME_FILE,
            File::Vpn => crate::vpn::VPN_FILE,
            File::Web => crate::web::WEB_FILE,
        }
    }

    /// The user documentation of the file's keys.
    pub fn doc(self) -> &'static str {
        match self {
            File::Network | File::Firewall => "docs/network-config.md",
            File::Sqm => "docs/sqm.md",
            File::Time => "docs/time.md",
            File::Vpn => "docs/vpn.md",
            File::Web => "docs/web-ui.md",
        }
    }

    /// Which file a name (the last path component) is: network.toml, firewall.toml or
    /// time.toml (sqm.toml is saved by [`crate::sqm::Sqm::save`]).
    pub fn from_name(name: &str) -> Option<File> {
        [File::Network, File::Firewall, File::Time].into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: File,
    /// Dotted key, e.g. `dhcp.static[2].ip`; empty for a syntax error.
    pub key: String,
    /// 1-based line and column, when the configuration was parsed from text.
    pub line_col: Option<(usize, usize)>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Problem {
    /// `network.toml:14:6: dhcp.static[2].ip: 192.168.2.5 is outside ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything wrong with a configuration, all at once (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// `text` parsed as `file`'s type and validated by `check` (given the text's spans, to
/// locate what it finds): the value, or every problem at once.
pub(crate) fn parse_checked<T: serde::de::DeserializeOwned>(
    file: File,
    text: &str,
    check: impl FnOnce(&T, Option<&Source>) -> Vec<Problem>,
) -> Result<T, Problems> {
    let value: T = toml::from_str(text).map_err(|e| Problems(vec![from_toml_error(file, text, &e)]))?;
    let src = Source::parse(text).ok();
    let problems = check(&value, src.as_ref());
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(Problems(problems))
    }
}

/// A parse error of `file` as a problem: located, with the key it is about, and serde's
/// message made to say what to do for the common cases.
pub(crate) fn from_toml_error(file: File, text: &str, e: &toml::de::Error) -> Problem {
    let offset = e.span().map(|s| s.start);
    let source = Source::parse(text).ok();
    let key = match (&source, offset) {
        (Some(src), Some(off)) => src.key_at(off).unwrap_or_default(),
        _ => String::new(),
    };
    let msg = e.message().trim();
    let spanned_text = e.span().and_then(|s| text.get(s)).filter(|t| !t.is_empty() && !t.contains('\n'));
    let message = if msg == "duplicate key" {
        let what = spanned_text.map(|t| format!("`{t}` ")).unwrap_or_default();
        format!("{what}is defined twice; each key, and each [section], may appear only once in a file: merge them")
    } else if msg.starts_with("unknown field") {
        format!("{msg}; remove or rename it (every key is described in {})", file.doc())
    } else if msg.starts_with("missing field") {
        format!("{msg}; add it (see {})", file.doc())
    } else if msg.contains("invalid IPv4 address syntax") {
        "not an IPv4 address; write four numbers 0-255 separated by dots, e.g. \"192.168.1.10\"".to_string()
    } else {
        msg.to_string()
    };
    Problem { file, key, line_col: offset.map(|o| line_col(text, o)), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_display_file_line_key_and_message() {
        let p = Problem { file: File::Network, key: "dhcp.start".into(), line_col: Some((3, 9)), message: "bad".into() };
        let q = Problem { file: File::Firewall, key: String::new(), line_col: None, message: "worse".into() };
        assert_eq!(Problems(vec![p, q]).to_string(), "network.toml:3:9: dhcp.start: bad\nfirewall.toml: worse");
    }
}
