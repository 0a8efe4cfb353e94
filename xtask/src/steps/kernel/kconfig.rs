//! Just enough of a Kconfig reader to say why an option was dropped.
//!
//! Walks the kernel's Kconfig tree from the top (`source` followed, `$(SRCARCH)` expanded),
//! records for each symbol every definition's `depends on` lines together with the
//! conditions of its enclosing `if`, `menu` and `choice` blocks, and whether it has a
//! prompt. [`Kconfig::explain`] evaluates those against a final .config and names the terms
//! that are false, the way menuconfig's help shows them: `NET_SCHED [=n]`.

use super::config::DotConfig;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct Definition {
    /// File and line of the `config` line.
    pub location: String,
    /// `depends on` expressions of the entry and of its enclosing blocks.
    pub depends: Vec<String>,
    /// Whether users can set it (it has a prompt); promptless symbols are only `select`ed.
    pub has_prompt: bool,
}

#[derive(Debug, Default)]
pub struct Kconfig {
    pub symbols: HashMap<String, Vec<Definition>>,
}

/// Keywords that end a config entry's block.
const BLOCK_KEYWORDS: &[&str] =
    &["config", "menuconfig", "choice", "endchoice", "menu", "endmenu", "if", "endif", "source", "rsource", "osource", "orsource", "comment", "mainmenu"];

struct Frame {
    kind: &'static str,
    conds: Vec<String>,
}

impl Kconfig {
    /// Read the Kconfig tree of a kernel source for an ARCH.
    pub fn load(srctree: &Path, srcarch: &str) -> Kconfig {
        let mut k = Kconfig::default();
        let mut stack: Vec<Frame> = Vec::new();
        k.read_file(srctree, &srctree.join("Kconfig"), srcarch, &mut stack, 0);
        k
    }

    fn read_file(&mut self, srctree: &Path, file: &Path, srcarch: &str, stack: &mut Vec<Frame>, depth: usize) {
        if depth > 40 {
            return;
        }
        let Ok(text) = std::fs::read_to_string(file) else { return };
        let shown = file.strip_prefix(srctree).unwrap_or(file).display().to_string();
        // Join continuation lines, remembering each logical line's first line number.
        let mut lines: Vec<(usize, String)> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (i, raw) in text.lines().enumerate() {
            let (n, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
            if let Some(stripped) = raw.strip_suffix('\\') {
                acc.push_str(stripped);
                acc.push(' ');
                pending = Some((n, acc));
            } else {
                acc.push_str(raw);
                lines.push((n, acc));
            }
        }
        let mut current: Option<(String, Definition)> = None;
        // A menu or choice opened: its following `depends on` lines belong to the block.
        let mut block_header = false;
        let mut help_indent: Option<(usize, Option<usize>)> = None;
        let finish = |k: &mut Kconfig, cur: &mut Option<(String, Definition)>| {
            if let Some((sym, def)) = cur.take() {
                k.symbols.entry(sym).or_default().push(def);
            }
        };
        for (n, line) in &lines {
            let indent = line.chars().take_while(|c| c.is_whitespace()).map(|c| if c == '\t' { 8 } else { 1 }).sum::<usize>();
            let t = line.trim();
            // Help text: lines indented deeper than the `help` keyword, up to the first
            // line indented less than the text's first line.
            if let Some((kw_indent, first)) = help_indent {
                if t.is_empty() {
                    continue;
                }
                match first {
                    None if indent > kw_indent => {
                        help_indent = Some((kw_indent, Some(indent)));
                        continue;
                    }
                    Some(first) if indent >= first => continue,
                    _ => help_indent = None,
                }
            }
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let (word, rest) = t.split_once(char::is_whitespace).map(|(w, r)| (w, r.trim())).unwrap_or((t, ""));
            if BLOCK_KEYWORDS.contains(&word) {
                finish(self, &mut current);
                block_header = false;
            }
            let conds = || stack.iter().flat_map(|f| f.conds.iter().cloned()).collect::<Vec<_>>();
            match word {
                "config" | "menuconfig" => {
                    let def = Definition { location: format!("{shown}:{n}"), depends: conds(), has_prompt: false };
                    current = Some((rest.to_string(), def));
                }
                "if" => stack.push(Frame { kind: "if", conds: vec![strip_comment(rest)] }),
                "endif" => pop(stack, "if"),
                "menu" => {
                    stack.push(Frame { kind: "menu", conds: vec![] });
                    block_header = true;
                }
                "endmenu" => pop(stack, "menu"),
                "choice" => {
                    stack.push(Frame { kind: "choice", conds: vec![] });
                    block_header = true;
                }
                "endchoice" => pop(stack, "choice"),
                "source" | "osource" | "rsource" | "orsource" => {
                    let name = rest.trim_matches('"').replace("$(SRCARCH)", srcarch);
                    let path = if word.starts_with('r') || word.starts_with("or") { file.parent().unwrap_or(srctree).join(&name) } else { srctree.join(&name) };
                    self.read_file(srctree, &path, srcarch, stack, depth + 1);
                }
                "depends" => {
                    let expr = strip_comment(rest.strip_prefix("on").unwrap_or(rest).trim());
                    if let Some((_, def)) = current.as_mut() {
                        def.depends.push(expr);
                    } else if block_header {
                        if let Some(f) = stack.last_mut() {
                            f.conds.push(expr);
                        }
                    }
                }
                "prompt" => {
                    if let Some((_, def)) = current.as_mut() {
                        def.has_prompt = true;
                    }
                }
                "bool" | "tristate" | "string" | "int" | "hex" | "def_bool" | "def_tristate" => {
                    if let Some((_, def)) = current.as_mut() {
                        if matches!(word, "bool" | "tristate" | "string" | "int" | "hex") && rest.starts_with('"') {
                            def.has_prompt = true;
                        }
                    }
                }
                "help" | "---help---" => help_indent = Some((indent, None)),
                _ => {}
            }
        }
        finish(self, &mut current);
    }

    /// Why `request` (asked `asked`) came out as `actual`, as lines for the user.
    pub fn explain(&self, symbol: &str, asked: &str, actual: &str, config: &DotConfig) -> String {
        let Some(defs) = self.symbols.get(symbol) else {
            return format!("CONFIG_{symbol} does not exist in this kernel's Kconfig for this architecture: check the name (typo, renamed or removed option)");
        };
        if asked == "n" {
            return format!("something selects CONFIG_{symbol} (a `select` in another option forces it on); find it with `cargo xtask kernel menuconfig` (search /{symbol})");
        }
        let mut out = Vec::new();
        for def in defs {
            let mut missing = Vec::new();
            for dep in &def.depends {
                let expr = Expr::parse(dep);
                let v = expr.eval(config);
                // y needs every dependency y; m, strings and numbers need them visible.
                let needed = if asked == "y" { 2 } else { 1 };
                if v < needed {
                    missing.push(format!("depends on {}", expr.render(config)));
                }
            }
            if missing.is_empty() && !def.has_prompt {
                missing.push("has no prompt: it is only turned on by a `select` from another option; enable that option instead".into());
            }
            if missing.is_empty() && actual == "m" && asked == "y" {
                missing.push("limited to m by a tristate dependency that is m".into());
            }
            if !missing.is_empty() {
                out.push(format!("{} (defined at {})", missing.join("; "), def.location));
            }
        }
        if out.is_empty() {
            format!("its dependencies hold; another option or a `choice` overrides it (see `cargo xtask kernel menuconfig`, search /{symbol})")
        } else {
            out.join("\n")
        }
    }
}

fn pop(stack: &mut Vec<Frame>, kind: &str) {
    if let Some(i) = stack.iter().rposition(|f| f.kind == kind) {
        stack.truncate(i);
    }
}

fn strip_comment(s: &str) -> String {
    let mut in_str = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return s[..i].trim().to_string(),
            _ => {}
        }
    }
    s.trim().to_string()
}

/// A Kconfig expression.
#[derive(Debug, Clone)]
enum Expr {
    Sym(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(String, String, String),
    /// `$(...)` toolchain tests and anything unparsable: assumed true.
    Unknown(String),
}

impl Expr {
    fn parse(text: &str) -> Expr {
        let toks = tokenize(text);
        let mut p = Parser { toks, pos: 0 };
        let e = p.or();
        if p.pos < p.toks.len() {
            Expr::Unknown(text.to_string())
        } else {
            e.unwrap_or_else(|| Expr::Unknown(text.to_string()))
        }
    }

    /// Tristate value: 0 n, 1 m, 2 y.
    fn eval(&self, c: &DotConfig) -> u8 {
        match self {
            Expr::Sym(s) => sym_value(s, c),
            Expr::Not(e) => 2 - e.eval(c),
            Expr::And(a, b) => a.eval(c).min(b.eval(c)),
            Expr::Or(a, b) => a.eval(c).max(b.eval(c)),
            Expr::Cmp(a, op, b) => {
                let (va, vb) = (text_value(a, c), text_value(b, c));
                let r = match op.as_str() {
                    "=" => va == vb,
                    "!=" => va != vb,
                    _ => {
                        let (na, nb) = (va.parse::<i64>().unwrap_or(0), vb.parse::<i64>().unwrap_or(0));
                        match op.as_str() {
                            "<" => na < nb,
                            "<=" => na <= nb,
                            ">" => na > nb,
                            _ => na >= nb,
                        }
                    }
                };
                if r {
                    2
                } else {
                    0
                }
            }
            Expr::Unknown(_) => 2,
        }
    }

    /// The expression with values, menuconfig style; top-level false terms only for `&&`.
    fn render(&self, c: &DotConfig) -> String {
        match self {
            Expr::And(a, b) => {
                let parts: Vec<String> = [a, b].iter().filter(|e| e.eval(c) < 2).map(|e| e.render(c)).collect();
                if parts.is_empty() {
                    format!("{} && {}", a.render(c), b.render(c))
                } else {
                    parts.join(" && ")
                }
            }
            Expr::Or(a, b) => format!("({} || {})", a.render(c), b.render(c)),
            Expr::Not(e) => format!("!{}", e.render(c)),
            Expr::Sym(s) if is_const(s) => s.clone(),
            Expr::Sym(s) => format!("{s} [={}]", c.get(s)),
            Expr::Cmp(a, op, b) => format!("{a}{op}{b} [={}]", if self.eval(c) == 2 { "y" } else { "n" }),
            Expr::Unknown(t) => t.clone(),
        }
    }
}

fn is_const(s: &str) -> bool {
    matches!(s, "y" | "m" | "n") || s.starts_with('"')
}

fn sym_value(s: &str, c: &DotConfig) -> u8 {
    match text_value(s, c).as_str() {
        "y" => 2,
        "m" => 1,
        "n" | "" => 0,
        _ => 2,
    }
}

fn text_value(s: &str, c: &DotConfig) -> String {
    if let Some(q) = s.strip_prefix('"') {
        return q.trim_end_matches('"').to_string();
    }
    if matches!(s, "y" | "m" | "n") || s.chars().next().is_some_and(|ch| ch.is_ascii_digit()) {
        return s.to_string();
    }
    c.get(s).trim_matches('"').to_string()
}

fn tokenize(text: &str) -> Vec<String> {
    let mut toks = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '$' && chars.get(i + 1) == Some(&'(') {
            let mut depth = 0;
            let start = i;
            while i < chars.len() {
                if chars[i] == '(' {
                    depth += 1;
                } else if chars[i] == ')' {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                i += 1;
            }
            toks.push(chars[start..i].iter().collect());
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
            toks.push(chars[start..i.min(chars.len())].iter().collect());
        } else if "&|!=<>".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["&&", "||", "!=", "<=", ">="].contains(&two.as_str()) {
                toks.push(two);
                i += 2;
            } else {
                toks.push(c.to_string());
                i += 1;
            }
        } else if c == '(' || c == ')' {
            toks.push(c.to_string());
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-' || chars[i] == '.') {
                i += 1;
            }
            if i == start {
                i += 1;
            }
            toks.push(chars[start..i].iter().collect());
        }
    }
    toks
}

struct Parser {
    toks: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }
    fn or(&mut self) -> Option<Expr> {
        let mut e = self.and()?;
        while self.peek() == Some("||") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Some(e)
    }
    fn and(&mut self) -> Option<Expr> {
        let mut e = self.unary()?;
        while self.peek() == Some("&&") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Some(e)
    }
    fn unary(&mut self) -> Option<Expr> {
        match self.peek()? {
            "!" => {
                self.pos += 1;
                Some(Expr::Not(Box::new(self.unary()?)))
            }
            "(" => {
                self.pos += 1;
                let e = self.or()?;
                if self.peek() == Some(")") {
                    self.pos += 1;
                }
                Some(e)
            }
            tok if tok.starts_with("$(") => {
                let t = tok.to_string();
                self.pos += 1;
                Some(Expr::Unknown(t))
            }
            _ => {
                let a = self.toks[self.pos].clone();
                self.pos += 1;
                if let Some(op) = self.peek().filter(|o| ["=", "!=", "<", "<=", ">", ">="].contains(o)).map(String::from) {
                    self.pos += 1;
                    let b = self.toks.get(self.pos)?.clone();
                    self.pos += 1;
                    return Some(Expr::Cmp(a, op, b));
                }
                Some(Expr::Sym(a))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn names_the_missing_dependency_through_if_menu_and_source() {
        let t = tree(&[
            ("Kconfig", "source \"net/Kconfig\"\nsource \"arch/$(SRCARCH)/Kconfig\"\n"),
            (
                "net/Kconfig",
                "menuconfig NET\n\tbool \"Networking\"\n\thelp\n\t  config in help text\n\t  must be skipped\n\nif NET\nmenu \"QoS\"\n\tdepends on NET_SCHED\n\nconfig NET_SCH_CAKE\n\ttristate \"CAKE\"\n\tdepends on INET && (IPV6 || !IPV6) # comment\n\nendmenu\nendif\nconfig NET_SCHED\n\tbool \"sched\"\nconfig INET\n\tbool \"inet\"\nconfig HIDDEN\n\tbool\n",
            ),
            ("arch/x86/Kconfig", "config X86\n\tdef_bool y\n"),
        ]);
        let k = Kconfig::load(t.path(), "x86");
        assert!(k.symbols.contains_key("X86"), "arch Kconfig was sourced");
        assert!(!k.symbols.contains_key("in"), "help text skipped");
        let cfg = DotConfig::parse("CONFIG_NET=y\nCONFIG_INET=y\n");
        let why = k.explain("NET_SCH_CAKE", "y", "n", &cfg);
        assert!(why.contains("depends on NET_SCHED [=n]"), "{why}");
        assert!(!why.contains("INET [=y]"), "true terms are not blamed: {why}");
        assert!(why.contains("net/Kconfig:11"), "{why}");
        let why = k.explain("HIDDEN", "y", "n", &cfg);
        assert!(why.contains("no prompt"), "{why}");
        let why = k.explain("NO_SUCH", "y", "n", &cfg);
        assert!(why.contains("does not exist"), "{why}");
    }

    #[test]
    fn evaluates_expressions() {
        let cfg = DotConfig::parse("CONFIG_A=y\nCONFIG_B=m\nCONFIG_S=\"x\"\nCONFIG_N=5\n");
        let v = |e: &str| Expr::parse(e).eval(&cfg);
        assert_eq!(v("A && B"), 1);
        assert_eq!(v("A && !C"), 2);
        assert_eq!(v("C || B"), 1);
        assert_eq!(v("S = \"x\""), 2);
        assert_eq!(v("N >= 6"), 0);
        assert_eq!(v("$(cc-option,-foo) && A"), 2);
    }
}
