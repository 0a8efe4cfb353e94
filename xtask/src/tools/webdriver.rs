//! A browser for the web UI's tests and benchmarks: Debian's chromium, headless, driven over
//! W3C WebDriver by chromedriver, both running inside the lab's laptop namespace
//! ([`crate::tools::lab`]) so that the browser reaches the router over its LAN like a real
//! laptop. Used by xtask/tests/webui.rs and xtask/tests/bench_web.rs.
//!
//! The client is the few commands used (new session, navigate, find, clear, send keys,
//! click, text, property, execute script, screenshot, alert text), JSON over HTTP/1.1 with std
//! and serde_json: fantoccini or thirtyfour would bring an async HTTP client stack to
//! xtask's build for a few dozen requests. Failures panic with the command, the page and
//! chromedriver's message: this is test and benchmark code, run under `cargo test`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use oxwrt_testkit::netns::Netns;
use serde_json::{json, Value};

use crate::tools::lab::Router;

/// chromedriver's port inside the laptop's namespace.
pub const DRIVER_PORT: u16 = 9515;
/// The web UI's address on a router with the default LAN.
pub const ROUTER: &str = "http://192.168.1.1";

/// Starts chromedriver in the router's laptop namespace and waits (30 s at most) until it
/// is ready. Panics naming the missing program (check prerequisites first with
/// [`prerequisites`]).
pub fn start_driver(r: &mut Router) {
    r.laptop_spawn(&["chromedriver", &format!("--port={DRIVER_PORT}")]);
    let up = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || wd(&r.laptop, "GET", "/status".into(), None).ok().filter(|v| v["ready"] == true));
    assert!(up.is_some(), "chromedriver did not start in the laptop's namespace");
}

/// What a browser test needs on the host, for `oxwrt_testkit::require_all`.
pub fn prerequisites() -> [oxwrt_testkit::Prereq<'static>; 2] {
    [
        oxwrt_testkit::Prereq::program("chromium", "apt-get install chromium (or `cargo xtask setup`)"),
        oxwrt_testkit::Prereq::program("chromedriver", "apt-get install chromium-driver (or `cargo xtask setup`)"),
    ]
}

/// One WebDriver request from inside the laptop's namespace; the reply's `value`, or the
/// WebDriver error (`error: message`).
pub fn wd(ns: &Netns, method: &'static str, path: String, body: Option<Value>) -> Result<Value, String> {
    ns.run(move || {
        let mut s = TcpStream::connect(("127.0.0.1", DRIVER_PORT)).map_err(|e| format!("chromedriver: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{DRIVER_PORT}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        // chromedriver keeps the connection open (whatever `Connection` says) and sends a
        // Content-Length: read the head, then exactly that many bytes.
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        let head_end = loop {
            if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("chromedriver closed: {}", String::from_utf8_lossy(&out)));
            }
            out.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("no Content-Length: {head}"))?;
        while out.len() < head_end + len {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("chromedriver closed mid-answer".into());
            }
            out.extend_from_slice(&buf[..n]);
        }
        let json_text = String::from_utf8_lossy(&out[head_end..head_end + len]).into_owned();
        let v: Value = serde_json::from_str(json_text.trim()).map_err(|e| format!("{e}: {json_text}"))?;
        let value = v["value"].clone();
        match value.get("error").and_then(Value::as_str) {
            Some(err) => Err(format!("{err}: {}", value["message"].as_str().unwrap_or(""))),
            None => Ok(value),
        }
    })
}

/// A browser session (one chromium with its own profile directory); closed when dropped.
pub struct Browser<'a> {
    pub ns: &'a Netns,
    pub id: String,
    /// Where [`Browser::screenshot`] writes.
    pub shots: PathBuf,
    /// The router's web address that [`Browser::go`] paths are relative to.
    pub base: String,
}

/// The W3C key of an element reference in a reply.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl<'a> Browser<'a> {
    /// A new headless chromium with the profile directory `profile` (a path in the host's
    /// file system, which the laptop namespace shares), pointed at [`ROUTER`].
    pub fn open(ns: &'a Netns, profile: &str, shots: PathBuf) -> Browser<'a> {
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=800,1100", format!("--user-data-dir={profile}")]
        }}}});
        let v = wd(ns, "POST", "/session".into(), Some(caps)).unwrap_or_else(|e| panic!("no browser session: {e}"));
        std::fs::create_dir_all(&shots).unwrap_or_else(|e| panic!("{}: {e}", shots.display()));
        Browser { ns, id: v["sessionId"].as_str().expect("sessionId").to_owned(), shots, base: ROUTER.to_owned() }
    }

    pub fn cmd(&self, method: &'static str, path: &str, body: Option<Value>) -> Result<Value, String> {
        wd(self.ns, method, format!("/session/{}{path}", self.id), body)
    }

    /// Opens `path` on the router ([`Browser::base`]).
    pub fn go(&self, path: &str) {
        self.cmd("POST", "/url", Some(json!({"url": format!("{}{path}", self.base)}))).unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).unwrap().as_str().unwrap_or_default().to_owned()
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))).unwrap_or_else(|e| panic!("{css} on {}: {e}", self.url()));
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("{css}: not an element: {v}")).to_owned()
    }

    pub fn find_all(&self, css: &str) -> Vec<String> {
        let v = self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css}))).unwrap();
        v.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_owned()).collect()
    }

    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({}))).unwrap();
        self.cmd("POST", &format!("/element/{e}/value"), Some(json!({"text": text}))).unwrap();
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({}))).unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks a form's button and waits for the next page (the click returns before the
    /// navigation it starts).
    pub fn submit(&self, css: &str) {
        let old = self.find("html");
        self.click(css);
        let next = oxwrt_testkit::netns::wait_for(Duration::from_secs(60), || {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": "html"}))).ok()?;
            let id = now[ELEMENT].as_str()?.to_owned();
            (id != old && self.cmd("GET", &format!("/element/{id}/text"), None).is_ok()).then_some(())
        });
        assert!(next.is_some(), "no new page after clicking {css} on {}", self.url());
    }

    pub fn text_of(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), None).unwrap().as_str().unwrap_or_default().to_owned()
    }

    pub fn text(&self, css: &str) -> String {
        self.text_of(&self.find(css))
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn script(&self, script: &str) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": []}))).unwrap_or_else(|e| panic!("script on {}: {e}", self.url()))
    }

    /// No JavaScript dialog is open (an `onerror=alert(1)` that ran would leave one).
    pub fn no_dialog(&self) {
        match self.cmd("GET", "/alert/text", None) {
            Err(e) if e.starts_with("no such alert") => {}
            other => panic!("a dialog is open on {}: {other:?}", self.url()),
        }
    }

    pub fn screenshot(&self, name: &str) {
        let b64 = self.cmd("GET", "/screenshot", None).unwrap();
        let png = base64_decode(b64.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = wd(self.ns, "DELETE", format!("/session/{}", self.id), None);
    }
}

/// Standard base64 (RFC 4648), as WebDriver sends screenshots.
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// webd's resident memory (KiB) from the guest's `ps` (the console shell), "?" if not found.
pub fn webd_rss(g: &mut crate::tools::qemu::Guest) -> String {
    let ps = g.shell("ps");
    ps.lines().find(|l| l.trim_end().ends_with("/usr/sbin/webd")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_string()
}
