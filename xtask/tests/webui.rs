//! The web UI in a real browser: Debian's chromium, headless, driven over WebDriver
//! (chromedriver) from inside the lab's laptop namespace (xtask/src/tools/lab.rs), against
//! the image booted in QEMU. One boot per board for all of its checks: the first password,
//! login and logout, a DHCP pool changed on the network page and the laptop's next lease
//! from the new pool, markup as a port forward's name and as a DHCP hostname (sent by the
//! laptop) shown as text with no dialog. A screenshot of every page is kept under
//! target/webui/BOARD/ (test artifacts).
//!
//! The WebDriver client is the few commands used here (W3C WebDriver: new session,
//! navigate, find, clear, send keys, click, text, screenshot, alert text), JSON over
//! HTTP/1.1 with std and serde_json: fantoccini or thirtyfour would bring an async HTTP
//! client stack to xtask's build for a dozen requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use oxwrt_testkit::netns::Netns;
use oxwrt_testkit::Prereq;
use serde_json::{json, Value};
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};

const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(60);
const DRIVER_PORT: u16 = 9515;
const ROUTER: &str = "http://192.168.1.1";
const PASSWORD: &str = "browser test password";
const XSS: &str = "<img src=x onerror=alert(1)>\"; reboot #";

#[path = "webui/sqm.rs"]
mod sqm;

/// One WebDriver request from inside the laptop's namespace; the reply's `value`, or the
/// WebDriver error (`error: message`).
fn wd(ns: &Netns, method: &'static str, path: String, body: Option<Value>) -> Result<Value, String> {
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

/// A browser session.
struct Browser<'a> {
    ns: &'a Netns,
    id: String,
    shots: PathBuf,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl<'a> Browser<'a> {
    fn open(ns: &'a Netns, profile: &str, shots: PathBuf) -> Browser<'a> {
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=800,1100", format!("--user-data-dir={profile}")]
        }}}});
        let v = wd(ns, "POST", "/session".into(), Some(caps)).unwrap_or_else(|e| panic!("no browser session: {e}"));
        std::fs::create_dir_all(&shots).unwrap();
        Browser { ns, id: v["sessionId"].as_str().expect("sessionId").to_owned(), shots }
    }

    fn cmd(&self, method: &'static str, path: &str, body: Option<Value>) -> Result<Value, String> {
        wd(self.ns, method, format!("/session/{}{path}", self.id), body)
    }

    fn go(&self, path: &str) {
        self.cmd("POST", "/url", Some(json!({"url": format!("{ROUTER}{path}")}))).unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).unwrap().as_str().unwrap_or_default().to_owned()
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))).unwrap_or_else(|e| panic!("{css} on {}: {e}", self.url()));
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("{css}: not an element: {v}")).to_owned()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let v = self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css}))).unwrap();
        v.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_owned()).collect()
    }

    fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({}))).unwrap();
        self.cmd("POST", &format!("/element/{e}/value"), Some(json!({"text": text}))).unwrap();
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({}))).unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks a form's button and waits for the next page (the click returns before the
    /// navigation it starts).
    fn submit(&self, css: &str) {
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

    fn text_of(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), None).unwrap().as_str().unwrap_or_default().to_owned()
    }

    fn text(&self, css: &str) -> String {
        self.text_of(&self.find(css))
    }

    /// No JavaScript dialog is open (an `onerror=alert(1)` that ran would leave one).
    fn no_dialog(&self) {
        match self.cmd("GET", "/alert/text", None) {
            Err(e) if e.starts_with("no such alert") => {}
            other => panic!("a dialog is open on {}: {other:?}", self.url()),
        }
    }

    fn screenshot(&self, name: &str) {
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
fn base64_decode(s: &str) -> Vec<u8> {
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

/// webd's resident memory (KiB) from the guest's `ps` (the console shell).
fn webd_rss(g: &mut xtask::tools::qemu::Guest) -> String {
    let ps = g.shell("ps");
    ps.lines().find(|l| l.trim_end().ends_with("/usr/sbin/webd")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_string()
}

/// The laptop asks for a lease again (a new DISCOVER) with `hostname`; its address.
fn renew(r: &lab::Router, hostname: &str) -> String {
    r.laptop.ip(&["addr", "flush", "dev", "eth0"]);
    let script = r.dir().join("udhcpc.sh").display().to_string();
    let opt = format!("hostname:{hostname}");
    let cmd = ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "20", "-T", "1", "-s", &script, "-x", &opt];
    let (status, out) = r.laptop.exec(&cmd).wait(T);
    let addr = r.laptop.addrs("eth0");
    assert!(status == Some(0) && !addr.is_empty(), "no lease: {out}\n{}", r.guest.tail());
    addr[0].split('/').next().unwrap().to_owned()
}

fn webui_in_a_browser(board_id: &str) {
    let ctx = Context::from_env(false).unwrap();
    let board = ctx.repo().load_board(board_id).unwrap();
    if !oxwrt_testkit::require_all(&[
        Prereq::program("chromium", "apt-get install chromium (or `cargo xtask setup`)"),
        Prereq::program("chromedriver", "apt-get install chromium-driver (or `cargo xtask setup`)"),
    ]) {
        return;
    }
    let Some(mut lab) = Lab::new("webui", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = lab::scratch_image(&ctx, &board, dir.path());
    let mut r = lab.router(&ctx, &board, image, BOOT);
    let first = r.laptop_lease(T);
    assert!(first.starts_with("192.168.1."), "{first}");
    let idle_rss = webd_rss(&mut r.guest);
    r.laptop_spawn(&["chromedriver", &format!("--port={DRIVER_PORT}")]);
    let up = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || wd(&r.laptop, "GET", "/status".into(), None).ok().filter(|v| v["ready"] == true));
    assert!(up.is_some(), "chromedriver did not start in the laptop's namespace");
    let shots = ctx.root.join("target/webui").join(board_id);
    let profile = dir.path().join("chromium").display().to_string();
    let b = Browser::open(&r.laptop, &profile, shots);

    // First boot: every page leads to setting the password.
    b.go("/");
    assert!(b.url().ends_with("/setup"), "{}", b.url());
    b.screenshot("setup");
    b.fill("#password", PASSWORD);
    b.fill("#repeat", PASSWORD);
    b.submit("button[type=submit]");
    assert_eq!(b.url(), format!("{ROUTER}/"));
    assert_eq!(b.text("h1"), "Overview");
    b.screenshot("overview");

    // Log out, log in.
    b.submit("header form button");
    assert!(b.url().ends_with("/login"), "{}", b.url());
    b.screenshot("login");
    b.fill("#password", "not the password");
    b.submit("main button[type=submit]");
    assert!(b.text("main").contains("Wrong password."));
    b.fill("#password", PASSWORD);
    b.submit("main button[type=submit]");
    assert_eq!(b.text("h1"), "Overview");

    // The DHCP pool: the laptop's next lease comes from the new one.
    b.go("/network");
    b.screenshot("network");
    b.fill("#dhcp_start", "192.168.1.150");
    b.fill("#dhcp_end", "192.168.1.160");
    b.submit("form[action='/network'] button[type=submit]");
    assert!(b.text("main").contains("Saved and applied."), "{}", b.text("main"));
    std::thread::sleep(Duration::from_secs(3)); // netd reloads a second after the file is replaced
    let started = Instant::now();
    let addr = renew(&r, "laptop");
    let last: u8 = addr.rsplit('.').next().unwrap().parse().unwrap();
    assert!((150..=160).contains(&last), "lease {addr} is not from the new pool ({:?})", started.elapsed());

    // Markup as a port forward's name: text in the DOM, nothing runs.
    b.fill("#fname", XSS);
    b.fill("#wan_port", "8080");
    b.fill("#to", &addr);
    b.fill("#to_port", "80");
    b.submit("form[action='/network/forward/add'] button[type=submit]");
    b.no_dialog();
    let names: Vec<String> = b.find_all("td.name").iter().map(|e| b.text_of(e)).collect();
    assert_eq!(names, vec![XSS.to_owned()], "the name as text");
    b.screenshot("network-pending");
    b.submit("form[action='/network/confirm'] button");
    let main = b.text("main");
    assert!(main.contains("Kept."), "{main}\n{}", r.guest.tail());

    // Markup as the laptop's DHCP hostname: netd keeps letters, digits and '-'; whatever
    // arrives is text.
    // (busybox udhcpc ends an option's text at a space: a payload without one.)
    renew(&r, "<img/src=x/onerror=alert(1)>");
    // netd writes its lease file at most every so often (to spare the flash): reload.
    let mut hosts = Vec::new();
    let shown = oxwrt_testkit::netns::wait_for(Duration::from_secs(90), || {
        b.go("/clients");
        b.no_dialog();
        hosts = b.find_all("td.host").iter().map(|e| b.text_of(e)).collect();
        hosts.iter().any(|h| h == "imgsrcxonerroralert1").then_some(())
    });
    assert!(shown.is_some(), "hostnames {hosts:?}");
    b.screenshot("clients");
    b.go("/system");
    b.screenshot("system");
    sqm::step(&b, &mut r.guest);
    b.go("/logs");
    let log = b.text("#log");
    assert!(log.contains("webd"), "the log ring shows webd's lines");
    // What the first password cost on this board (docs/benchmarks.md): kept beside the
    // screenshots.
    let cost = log.lines().find(|l| l.contains("password set (scrypt")).unwrap_or_else(|| panic!("no `password set` line in the log:\n{log}"));
    // webd's memory: idle after boot, and now, after every page (the overview's script
    // polled meanwhile) and a scrypt hash or three.
    let used_rss = webd_rss(&mut r.guest);
    let memory = format!("webd RSS: {idle_rss} KiB idle after boot, {used_rss} KiB after the pages");
    std::fs::write(b.shots.join("login-cost.txt"), format!("{cost}\n{memory}\n")).unwrap();
    eprintln!("{board_id}: {cost}\n{board_id}: {memory}");

    // A LAN address change not kept: the router moves, then comes back on the old address
    // by itself after the window (webd restarts on each address through init). First the
    // forward goes (its LAN host would be outside the new subnet), kept.
    b.go("/network");
    b.submit("form[action='/network/forward/delete'] button");
    b.submit("form[action='/network/confirm'] button");
    assert!(b.find_all("td.name").is_empty(), "the forward is gone");
    b.fill("#lan_address", "192.168.2.1/24");
    b.fill("#dhcp_start", "");
    b.fill("#dhcp_end", "");
    b.submit("form[action='/network'] button[type=submit]");
    let main = b.text("main");
    assert!(main.contains("http://192.168.2.1/network"), "{main}");
    b.screenshot("network-moved");
    let saved = Instant::now();
    let answers = |addr: &'static str| r.laptop.run(move || TcpStream::connect_timeout(&format!("{addr}:80").parse().unwrap(), Duration::from_secs(2)).is_ok());
    let gone = oxwrt_testkit::netns::wait_for(Duration::from_secs(60), || (!answers("192.168.1.1")).then_some(()));
    assert!(gone.is_some(), "192.168.1.1 still answers after the move\n{}", r.guest.tail());
    let back = oxwrt_testkit::netns::wait_for(Duration::from_secs(180), || {
        std::thread::sleep(Duration::from_secs(2));
        answers("192.168.1.1").then(|| saved.elapsed())
    });
    let back = back.unwrap_or_else(|| panic!("the router did not come back on 192.168.1.1\n{}", r.guest.tail()));
    assert!(back >= Duration::from_secs(80), "back after {back:?}, before the 90 s window ended");
    eprintln!("{board_id}: LAN address rolled back, 192.168.1.1 answered again {} s after the change", back.as_secs());
    b.go("/network");
    if b.url().ends_with("/login") {
        b.fill("#password", PASSWORD);
        b.submit("main button[type=submit]");
        b.go("/network");
    }
    assert_eq!(b.cmd("POST", "/element", Some(json!({"using": "css selector", "value": "#lan_address"}))).map(|_| ()), Ok(()));
    let lan = b.find("#lan_address");
    let value = b.cmd("GET", &format!("/element/{lan}/property/value"), None).unwrap();
    assert_eq!(value, "192.168.1.1/24", "the previous LAN address is in the form again");
    assert!(b.find_all("form[action='/network/confirm']").is_empty(), "nothing pending");
    b.no_dialog();

    // Moved again and kept from the new address: the laptop renews into the new subnet,
    // logs in there (webd restarted: a new session) and keeps the change.
    b.fill("#lan_address", "192.168.3.1/24");
    b.fill("#dhcp_start", "");
    b.fill("#dhcp_end", "");
    b.submit("form[action='/network'] button[type=submit]");
    let main = b.text("main");
    assert!(main.contains("http://192.168.3.1/network"), "{main}");
    std::thread::sleep(Duration::from_secs(3)); // netd reloads a second after the file is replaced
    let addr = renew(&r, "laptop");
    assert!(addr.starts_with("192.168.3."), "lease {addr} after the move");
    let moved = oxwrt_testkit::netns::wait_for(Duration::from_secs(60), || {
        std::thread::sleep(Duration::from_secs(2));
        answers("192.168.3.1").then_some(())
    });
    assert!(moved.is_some(), "nothing answers on 192.168.3.1\n{}", r.guest.tail());
    b.cmd("POST", "/url", Some(json!({"url": "http://192.168.3.1/network"}))).unwrap();
    if b.url().ends_with("/login") {
        b.fill("#password", PASSWORD);
        b.submit("main button[type=submit]");
        b.cmd("POST", "/url", Some(json!({"url": "http://192.168.3.1/network"}))).unwrap();
    }
    b.screenshot("network-confirm-at-new-address");
    b.submit("form[action='/network/confirm'] button");
    let main = b.text("main");
    assert!(main.contains("Kept."), "{main}");
    assert!(b.find_all("form[action='/network/confirm']").is_empty(), "nothing pending");
    b.screenshot("logs");
    b.no_dialog();
}

#[test]
#[ignore = "needs root, chromium and the images built by cargo xtask test"]
fn x86_webui_in_a_browser() {
    webui_in_a_browser("qemu-x86-64");
}

#[test]
#[ignore = "needs root, chromium and the images built by cargo xtask test"]
fn malta_webui_in_a_browser() {
    webui_in_a_browser("qemu-malta-mipsel");
}
