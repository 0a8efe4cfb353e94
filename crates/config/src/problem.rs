//! Problems found in the configuration files, located in their source: which file, which
//! dotted key (`dhcp.static[2].ip`), which line and column, and what to do about it.
//!
//! Locations come from toml's own spans ([`toml::de::DeTable`]), so this needs no other
//! TOML library on the device.

use std::fmt;
use toml::de::{DeTable, DeValue};

/// One of the configuration files under /etc/oxwrt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum File {
    Network,
    Firewall,
}

impl File {
    /// The file's name in the configuration directory.
    pub fn name(self) -> &'static str {
        match self {
            File::Network => crate::NETWORK_FILE,
            File::Firewall => crate::FIREWALL_FILE,
        }
    }

    /// Which file a name (the last path component) is, if it is one of ours.
    pub fn from_name(name: &str) -> Option<File> {
        [File::Network, File::Firewall].into_iter().find(|f| f.name() == name)
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

/// One step of a key path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A file's text and its spanned parse, to locate keys in.
pub(crate) struct Source<'a> {
    text: &'a str,
    root: DeTable<'a>,
}

impl<'a> Source<'a> {
    /// None when the text is not TOML (its syntax error is reported by the parse).
    pub(crate) fn parse(text: &'a str) -> Option<Source<'a>> {
        DeTable::parse(text).ok().map(|t| Source { text, root: t.into_inner() })
    }

    /// Line and column of a key path: of the deepest part of it that is in the file.
    pub(crate) fn locate(&self, path: &[Seg]) -> Option<(usize, usize)> {
        let mut pos = None;
        let mut node: Option<&DeValue> = None;
        for seg in path {
            match (seg, node) {
                (Seg::Key(k), None) | (Seg::Key(k), Some(DeValue::Table(_))) => {
                    let table = match node {
                        Some(DeValue::Table(t)) => t,
                        _ => &self.root,
                    };
                    let Some((key, value)) = table.iter().find(|(key, _)| key.get_ref().as_ref() == *k) else { break };
                    pos = Some(key.span().start);
                    node = Some(value.get_ref());
                }
                (Seg::Index(i), Some(DeValue::Array(a))) => {
                    let Some(item) = a.get(*i) else { break };
                    pos = Some(item.span().start);
                    node = Some(item.get_ref());
                }
                _ => break,
            }
        }
        pos.map(|p| line_col(self.text, p))
    }

    /// The dotted key whose key or value holds byte `offset` (the deepest one).
    pub(crate) fn key_at(&self, offset: usize) -> Option<String> {
        fn inside(span: std::ops::Range<usize>, off: usize) -> bool {
            span.start <= off && off < span.end.max(span.start + 1)
        }
        fn walk_table(t: &DeTable, off: usize, prefix: &str, best: &mut Option<String>) {
            for (k, v) in t.iter() {
                let name = if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
                if inside(k.span(), off) || inside(v.span(), off) {
                    *best = Some(name.clone());
                }
                walk_value(v.get_ref(), off, &name, best);
            }
        }
        fn walk_value(v: &DeValue, off: usize, name: &str, best: &mut Option<String>) {
            match v {
                DeValue::Table(t) => walk_table(t, off, name, best),
                DeValue::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        let name = format!("{name}[{i}]");
                        if inside(item.span(), off) {
                            *best = Some(name.clone());
                        }
                        walk_value(item.get_ref(), off, &name, best);
                    }
                }
                _ => {}
            }
        }
        let mut best = None;
        walk_table(&self.root, offset, "", &mut best);
        best
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A parse error of `file` as a problem: located, with the key it is about, and serde's
/// message made to say what to do for the common cases.
pub(crate) fn from_toml_error(file: File, text: &str, e: &toml::de::Error) -> Problem {
    let offset = e.span().map(|s| s.start);
    let source = Source::parse(text);
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
        format!("{msg}; remove or rename it (every key is described in docs/network-config.md)")
    } else if msg.starts_with("missing field") {
        format!("{msg}; add it (see docs/network-config.md)")
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

    const TEXT: &str = "[lan]\nports = [\"eth1\", \"eth2\"]\n\n[[dhcp.static]]\nmac = \"02:00:00:00:00:01\"\nip = \"192.168.1.10\"\n\n[[dhcp.static]]\nmac = \"02:00:00:00:00:02\"\nip = \"192.168.1.11\"\n";

    #[test]
    fn locates_keys_array_items_and_tables_of_arrays() {
        let src = Source::parse(TEXT).unwrap();
        assert_eq!(src.locate(&[Seg::Key("lan"), Seg::Key("ports")]), Some((2, 1)));
        assert_eq!(src.locate(&[Seg::Key("lan"), Seg::Key("ports"), Seg::Index(1)]), Some((2, 18)));
        assert_eq!(src.locate(&[Seg::Key("dhcp"), Seg::Key("static"), Seg::Index(1), Seg::Key("ip")]), Some((10, 1)));
        // A key that is not in the file: the deepest part that is.
        assert_eq!(src.locate(&[Seg::Key("lan"), Seg::Key("bridge")]), Some((1, 2)));
        assert_eq!(src.locate(&[Seg::Key("wan"), Seg::Key("device")]), None);
    }

    #[test]
    fn finds_the_key_at_an_offset() {
        let src = Source::parse(TEXT).unwrap();
        let off = TEXT.find("192.168.1.11").unwrap();
        assert_eq!(src.key_at(off).as_deref(), Some("dhcp.static[1].ip"));
        let off = TEXT.find("eth2").unwrap();
        assert_eq!(src.key_at(off).as_deref(), Some("lan.ports[1]"));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a\nbé c", 5), (2, 3));
        assert_eq!(line_col("abc", 0), (1, 1));
    }

    #[test]
    fn problems_display_file_line_key_and_message() {
        let p = Problem { file: File::Network, key: "dhcp.start".into(), line_col: Some((3, 9)), message: "bad".into() };
        let q = Problem { file: File::Firewall, key: String::new(), line_col: None, message: "worse".into() };
        assert_eq!(Problems(vec![p, q]).to_string(), "network.toml:3:9: dhcp.start: bad\nfirewall.toml: worse");
    }
}
