//! The documented TOML is what the code does: the reference blocks in the module docs parse to
//! the defaults, and every TOML block of docs/network-config.md parses and validates.

use oxwrt_config::{Config, Firewall, Network};
use std::fs;
use std::path::Path;

fn read(rel: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The ```toml blocks of a Markdown text.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The module docs (`//! ` lines) of a source file.
fn module_docs(rust: &str) -> String {
    rust.lines().map_while(|l| l.strip_prefix("//!")).map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l))).collect()
}

#[test]
fn the_references_in_the_module_docs_are_the_defaults() {
    let net = toml_blocks(&module_docs(&read("src/network.rs")));
    assert_eq!(net.len(), 1);
    assert_eq!(Config::parse(&net[0], "").unwrap_or_else(|p| panic!("{p}\n{}", net[0])).network, Network::default());
    let fw = toml_blocks(&module_docs(&read("src/firewall.rs")));
    assert_eq!(fw.len(), 1);
    assert_eq!(Config::parse("", &fw[0]).unwrap_or_else(|p| panic!("{p}\n{}", fw[0])).firewall, Firewall::default());
}

#[test]
fn every_toml_block_of_the_guide_is_valid() {
    let blocks = toml_blocks(&read("../../docs/network-config.md"));
    assert!(blocks.len() >= 3, "{blocks:?}");
    for block in blocks {
        let first = block.lines().next().unwrap_or_default();
        let result = match first {
            "# /etc/oxwrt/network.toml" => Config::parse(&block, ""),
            "# /etc/oxwrt/firewall.toml" => Config::parse("", &block),
            _ => panic!("a TOML block in docs/network-config.md must start with its file name as a comment:\n{block}"),
        };
        result.unwrap_or_else(|p| panic!("{p}\n{block}"));
    }
}

/// The console recipes (`echo '...' > file`, `>> file`) of the guide, replayed: every file
/// they write parses and validates.
#[test]
fn the_console_recipes_of_the_guide_write_valid_files() {
    let guide = read("../../docs/network-config.md");
    let mut recipes = 0;
    let mut block: Option<Vec<(String, String)>> = None; // (file, text) in order of writing
    for line in guide.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```text") => block = Some(Vec::new()),
            (Some(files), "```") => {
                for (file, text) in files.iter() {
                    recipes += 1;
                    let result = match file.as_str() {
                        "/etc/oxwrt/network.toml" => Config::parse(text, ""),
                        "/etc/oxwrt/firewall.toml" => Config::parse("", text),
                        other => panic!("a recipe writes {other}"),
                    };
                    result.unwrap_or_else(|p| panic!("{p}\n{text}"));
                }
                block = None;
            }
            (Some(files), l) => {
                let l = l.strip_prefix("root@oxwrt:/# ").unwrap_or(l);
                let Some(rest) = l.strip_prefix("echo '") else { continue };
                let (content, redirect) = rest.split_once("' ").expect("echo 'LINE' > FILE");
                let (append, file) = match redirect.split_once(' ') {
                    Some((">>", f)) => (true, f),
                    Some((">", f)) => (false, f),
                    _ => panic!("bad redirect in {l}"),
                };
                match files.iter_mut().find(|(f, _)| f == file) {
                    Some((_, text)) if append => text.push_str(&format!("{content}\n")),
                    Some((_, text)) => *text = format!("{content}\n"),
                    None => {
                        assert!(!append, "{l}: appends to a file the recipe did not start");
                        files.push((file.to_string(), format!("{content}\n")));
                    }
                }
            }
            (None, _) => {}
        }
    }
    assert!(recipes >= 2, "found {recipes} recipes");
}
