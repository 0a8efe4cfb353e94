//! Kernel configuration: fragments -> requested options -> .config -> verification.
//!
//! A board's configuration is its base config (tinyconfig, a defconfig) plus, in order, the
//! series' generic fragment, the board's fragments, the policy lines, what the board file
//! implies (command line, compression) and what its packages require. After `olddefconfig`
//! every requested option must have come out as asked; [`verify`] names each one Kconfig
//! changed and, through [`super::kconfig`], the dependency that is missing.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// One option asked for, and who asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Symbol without the CONFIG_ prefix.
    pub symbol: String,
    /// `y`, `m`, `n`, a quoted string or a number, as in .config.
    pub value: String,
    /// Where it came from: `targets/x.config:12`, `board cmdline`, `package netd`, ...
    pub origin: String,
}

impl Request {
    pub fn config_line(&self) -> String {
        if self.value == "n" {
            format!("# CONFIG_{} is not set", self.symbol)
        } else {
            format!("CONFIG_{}={}", self.symbol, self.value)
        }
    }
}

/// Parse one line of a fragment or .config: `Some((symbol, value))` for an option line.
pub fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("# CONFIG_") {
        let sym = rest.strip_suffix(" is not set")?;
        return Some((sym.to_string(), "n".into()));
    }
    let rest = line.strip_prefix("CONFIG_")?;
    let (sym, val) = rest.split_once('=')?;
    Some((sym.to_string(), val.to_string()))
}

/// Read a fragment file; a line that is neither an option, a comment nor blank is an error
/// naming the file and line.
pub fn read_fragment(path: &Path, shown_as: &str) -> Result<Vec<Request>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config fragment {}", path.display()))?;
    parse_fragment(&text, shown_as)
}

pub fn parse_fragment(text: &str, shown_as: &str) -> Result<Vec<Request>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        match parse_line(line) {
            Some((symbol, value)) => {
                if symbol.is_empty() || !symbol.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    bail!("{shown_as}:{}: `{line}`: `{symbol}` is not a Kconfig symbol name", i + 1);
                }
                if value.is_empty() {
                    bail!("{shown_as}:{}: `{line}` has no value; write CONFIG_{symbol}=y, =m, =\"text\", =123 or `# CONFIG_{symbol} is not set`", i + 1);
                }
                out.push(Request { symbol, value, origin: format!("{shown_as}:{}", i + 1) })
            }
            None if line.is_empty() || line.starts_with('#') => {}
            None => bail!("{shown_as}:{}: `{line}` is not a config line; write CONFIG_X=y, CONFIG_X=\"text\" or `# CONFIG_X is not set`", i + 1),
        }
    }
    Ok(out)
}

/// Later requests for a symbol replace earlier ones; order of first appearance is kept.
pub fn merge(requests: Vec<Request>) -> Vec<Request> {
    let mut order: Vec<String> = Vec::new();
    let mut by_sym: BTreeMap<String, Request> = BTreeMap::new();
    for r in requests {
        if !by_sym.contains_key(&r.symbol) {
            order.push(r.symbol.clone());
        }
        by_sym.insert(r.symbol.clone(), r);
    }
    order.into_iter().map(|s| by_sym.remove(&s).unwrap()).collect()
}

/// Rewrite a .config's text so that every request's line replaces the symbol's old line.
pub fn apply(config_text: &str, requests: &[Request]) -> String {
    let asked: BTreeMap<&str, &Request> = requests.iter().map(|r| (r.symbol.as_str(), r)).collect();
    let mut out = String::new();
    for line in config_text.lines() {
        if parse_line(line).is_some_and(|(s, _)| asked.contains_key(s.as_str())) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("# oxwrt: requested options\n");
    for r in requests {
        out.push_str(&r.config_line());
        out.push('\n');
    }
    out
}

/// A parsed .config: symbol -> value (`n` for "is not set").
#[derive(Debug, Default, Clone)]
pub struct DotConfig(pub BTreeMap<String, String>);

impl DotConfig {
    pub fn parse(text: &str) -> DotConfig {
        DotConfig(text.lines().filter_map(parse_line).collect())
    }

    pub fn read(path: &Path) -> Result<DotConfig> {
        Ok(DotConfig::parse(&std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?))
    }

    /// Value of a symbol; absent symbols are `n` (not visible or not defined).
    pub fn get(&self, sym: &str) -> &str {
        self.0.get(sym).map(String::as_str).unwrap_or("n")
    }
}

/// One requested option that did not come out as asked.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub request: Request,
    /// What Kconfig made of it (`n` if absent).
    pub actual: String,
    /// Why, from the Kconfig dependencies (may be empty if unknown).
    pub why: String,
}

/// Every requested option that Kconfig changed.
#[derive(Debug)]
pub struct VerifyError {
    pub dropped: Vec<Dropped>,
    pub config_path: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel config: {} requested option(s) did not come out as asked (in {}):", self.dropped.len(), self.config_path)?;
        for d in &self.dropped {
            writeln!(f, "  CONFIG_{}: asked {} by {}, got {}", d.request.symbol, d.request.value, d.request.origin, d.actual)?;
            if !d.why.is_empty() {
                for line in d.why.lines() {
                    writeln!(f, "      {line}")?;
                }
            }
        }
        write!(f, "Enable the missing dependencies in the same fragment (or drop the request), then build again.")
    }
}

impl std::error::Error for VerifyError {}

/// Compare requests with the final configuration; `explain` says why a symbol was dropped.
pub fn verify(requests: &[Request], config: &DotConfig, config_path: &str, explain: &dyn Fn(&Request, &str) -> String) -> Result<(), VerifyError> {
    let mut dropped = Vec::new();
    for r in requests {
        let actual = config.get(&r.symbol);
        if actual != r.value {
            dropped.push(Dropped { request: r.clone(), actual: actual.to_string(), why: explain(r, actual) });
        }
    }
    if dropped.is_empty() {
        Ok(())
    } else {
        Err(VerifyError { dropped, config_path: config_path.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_parse_and_reject_garbage() {
        let reqs = parse_fragment("# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n\n", "f.config").unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[1].value, "n");
        assert_eq!(reqs[2].origin, "f.config:4");
        let err = parse_fragment("CONFIG_A=y\nNET_SCHED=y\n", "t/x.config").unwrap_err().to_string();
        assert!(err.starts_with("t/x.config:2: `NET_SCHED=y` is not a config line"), "{err}");
    }

    #[test]
    fn later_requests_win_and_apply_replaces_lines() {
        let reqs = merge(vec![
            Request { symbol: "A".into(), value: "y".into(), origin: "g".into() },
            Request { symbol: "B".into(), value: "y".into(), origin: "g".into() },
            Request { symbol: "A".into(), value: "n".into(), origin: "b".into() },
        ]);
        assert_eq!(reqs.iter().map(|r| (r.symbol.as_str(), r.value.as_str())).collect::<Vec<_>>(), [("A", "n"), ("B", "y")]);
        let text = apply("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n", &reqs);
        let cfg = DotConfig::parse(&text);
        assert_eq!((cfg.get("A"), cfg.get("B"), cfg.get("C")), ("n", "y", "y"));
        assert_eq!(text.matches("CONFIG_B").count(), 1);
    }

    #[test]
    fn verify_names_each_dropped_option() {
        let reqs = parse_fragment("CONFIG_NET_SCH_CAKE=y\nCONFIG_NET=y\n# CONFIG_JFS_FS is not set\n", "g.config").unwrap();
        let cfg = DotConfig::parse("CONFIG_NET=y\n");
        let err = verify(&reqs, &cfg, ".config", &|r, _| format!("{} depends on NET_SCHED [=n]", r.symbol)).unwrap_err();
        assert_eq!(err.dropped.len(), 1);
        let msg = err.to_string();
        assert!(msg.contains("CONFIG_NET_SCH_CAKE: asked y by g.config:1, got n"), "{msg}");
        assert!(msg.contains("depends on NET_SCHED [=n]"), "{msg}");
    }
}
