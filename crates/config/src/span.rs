//! Where a key is in a TOML file, from toml's own spans ([`toml::de::DeTable`]): a key
//! path ([`Seg`]s) to its line and column ([`Source::locate`]), a byte offset (of a serde
//! error) to the dotted key there ([`Source::key_at`]), offsets to 1-based line:column
//! ([`line_col`]). Any TOML file: this crate's configuration files and xtask's board files
//! use it. No TOML library but toml itself, so it costs the device nothing more.

use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

pub fn path_string(path: &[Seg]) -> String {
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
pub struct Source<'a> {
    text: &'a str,
    root: DeTable<'a>,
}

impl<'a> Source<'a> {
    /// The spanned parse of `text`; the error (with its span) when it is not TOML.
    pub fn parse(text: &'a str) -> Result<Source<'a>, toml::de::Error> {
        DeTable::parse(text).map(|t| Source { text, root: t.into_inner() })
    }

    /// Line and column of a key path: of the deepest part of it that is in the file.
    pub fn locate(&self, path: &[Seg]) -> Option<(usize, usize)> {
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
    pub fn key_at(&self, offset: usize) -> Option<String> {
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
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
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
}
