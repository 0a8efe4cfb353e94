//! The logs page: init's log ring, asked for over its control socket (`log`, the request
//! `logread` makes; a member of group `config` may read it), filtered by a word. The page's
//! script (pages::SCRIPT) follows new lines: it polls /api/log with the same filter
//! ([`text`]) every few seconds and replaces the text (textContent: never parsed as markup).

use maud::{html, Markup};

use crate::pages;

/// At most this much of the ring is read (init's ring is 64 KiB).
pub const MAX_BYTES: usize = 256 * 1024;

/// The lines of `text` that contain `filter` (all when it is empty), newest last.
pub fn filter<'a>(text: &'a str, filter: &str) -> Vec<&'a str> {
    text.lines().filter(|l| filter.is_empty() || l.contains(filter)).collect()
}

/// The ring from init, or why not.
pub fn read_ring() -> Result<String, String> {
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let room = MAX_BYTES.saturating_sub(self.0.len());
            self.0.extend_from_slice(&b[..b.len().min(room)]);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new());
    oxinit::control::call(&oxinit::control::Request::Log, &mut out)?;
    Ok(String::from_utf8_lossy(&out.0).into_owned())
}

/// The lines of the ring that contain `q`, as /api/log serves them (the page's `#log` text).
pub fn text(q: &str) -> Result<String, String> {
    let ring = read_ring()?;
    let mut out = String::with_capacity(ring.len());
    for l in filter(&ring, q) {
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

/// `q`: the filter word from the query string (`/logs?q=netd`).
pub fn page(hostname: &str, csrf: &str, q: &str) -> Markup {
    let ring = read_ring();
    pages::layout(
        "Logs",
        hostname,
        Some(csrf),
        html! {
            form method="get" action="/logs" {
                label for="q" { "Show lines containing" }
                input #q type="text" name="q" value=(q);
                " "
                button type="submit" { "Filter" }
            }
            @match &ring {
                Ok(text) => { pre #log { @for l in filter(text, q) { (l) "\n" } } }
                Err(e) => { p.err { "The log cannot be read: " (e) } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_word() {
        let t = "[ 1.0] netd: up\n[ 2.0] webd: listening\n[ 3.0] netd: lease\n";
        assert_eq!(filter(t, "netd"), vec!["[ 1.0] netd: up", "[ 3.0] netd: lease"]);
        assert_eq!(filter(t, "").len(), 3);
        assert!(filter(t, "<script>").is_empty());
    }
}
