//! Issue 15's security regressions against the booted image, over plain HTTP/1.1 from the
//! lab's laptop namespace (what a hostile page or program on the LAN can send, which a
//! browser would not), and from the ISP's side: the UI is not reachable from the WAN, a
//! port forward is. packages/webd/tests/http.rs checks the same against webd on loopback;
//! these check the image as shipped (its webd, init's privileges, netd's firewall).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use oxwrt_testkit::netns::Netns;
use xtask::tools::qemu::Guest;

/// One answer: status code, header lines (name lower-cased), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name` this answer sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers.iter().filter(|(k, _)| k == "set-cookie").find_map(|(_, v)| {
            let (k, val) = v.split(';').next()?.split_once('=')?;
            (k == name).then(|| val.to_owned())
        })
    }

    /// The first form token (`name="csrf" value="..."`) of the page.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in the page:\n{}", self.body));
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap_or(0)].to_owned()
    }
}

/// Sends `request` to `to` from namespace `ns` and reads the answer until the server
/// closes (the requests say `Connection: close`; no half-close, which hyper takes for the
/// client going away). A server that
/// answers before the body is through (413) may reset the connection: the answer read
/// before that counts. Err: no answer at all (refused, timed out, closed without a
/// status line).
pub fn send(ns: &Netns, to: SocketAddr, request: Vec<u8>) -> Result<Answer, String> {
    ns.run(move || {
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let mut reader = s.try_clone().map_err(|e| e.to_string())?;
        let read = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 16384];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return out,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        });
        let mut w = &s;
        for piece in request.chunks(65536) {
            if w.write_all(piece).is_err() {
                break; // answered and closed early (413): read what came
            }
        }
        let out = read.join().map_err(|_| "reader thread panicked".to_string())?;
        parse(&out).ok_or_else(|| format!("no HTTP answer from {to}: {:?}", String::from_utf8_lossy(&out[..out.len().min(200)])))
    })
}

fn parse(out: &[u8]) -> Option<Answer> {
    let end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    Some(Answer { status, headers, body: String::from_utf8_lossy(&out[end + 4..]).into_owned() })
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A client on the LAN speaking raw HTTP to the router's `host` (port 80): its cookies.
pub struct Client<'a> {
    ns: &'a Netns,
    host: String,
    pre: Option<String>,
    session: Option<String>,
}

impl<'a> Client<'a> {
    pub fn new(ns: &'a Netns, host: &str) -> Client<'a> {
        Client { ns, host: host.to_owned(), pre: None, session: None }
    }

    fn addr(&self) -> SocketAddr {
        format!("{}:80", self.host).parse().unwrap()
    }

    fn cookies(&self) -> String {
        let c: Vec<String> =
            [("oxwrt_pre", &self.pre), ("oxwrt_session", &self.session)].iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect();
        if c.is_empty() {
            String::new()
        } else {
            format!("Cookie: {}\r\n", c.join("; "))
        }
    }

    /// A request with these extra header lines (each ending in CRLF) and body; remembers
    /// the cookies set.
    pub fn request(&mut self, method: &str, path: &str, extra: &str, body: &str) -> Answer {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{}{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.host,
            self.cookies(),
            body.len()
        );
        let a = send(self.ns, self.addr(), req.into_bytes()).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if let Some(p) = a.cookie("oxwrt_pre") {
            self.pre = Some(p);
        }
        if let Some(s) = a.cookie("oxwrt_session") {
            self.session = Some(s).filter(|s| !s.is_empty());
        }
        a
    }

    pub fn get(&mut self, path: &str) -> Answer {
        self.request("GET", path, "", "")
    }

    /// The `Origin` header line the router's own pages send.
    pub fn own_origin(&self) -> String {
        format!("Origin: http://{}\r\n", self.host)
    }

    /// A form with these header lines (`Origin`/`Referer`, or neither).
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)], headers: &str) -> Answer {
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        self.request("POST", path, &format!("Content-Type: application/x-www-form-urlencoded\r\n{headers}"), &body)
    }

    /// The login form, then the password: the answer (303 when it worked).
    pub fn login(&mut self, password: &str) -> Answer {
        let form = self.get("/login");
        let token = if form.status == 200 { form.csrf() } else { self.pre.clone().unwrap_or_default() };
        let origin = self.own_origin();
        self.post("/login", &[("csrf", &token), ("password", password)], &origin)
    }
}

/// The router's WAN address, from netd's `wan: lease ADDR/PREFIX ...` log line (not its
/// `wan: lease from SERVER: ...` remarks).
pub fn wan_address(guest: &mut Guest) -> String {
    let lease = guest.wait_for_log(&format!("wan: lease {}", "192.0.2."), Duration::from_secs(60));
    let addr = lease.split("lease ").nth(1).and_then(|s| s.split(['/', ' ']).next()).unwrap_or_default().to_string();
    assert!(addr.starts_with("192.0.2."), "no WAN address in {lease:?}");
    addr
}

/// From the ISP's side: webd's port 80 on the WAN address does not answer; port
/// `forward_port`, forwarded to the laptop's HTTP server (busybox httpd serving
/// `marker`), does.
pub fn wan_side(isp: &Netns, wan: &str, forward_port: u16, marker: &str) {
    let web: SocketAddr = format!("{wan}:80").parse().unwrap();
    let req = format!("GET / HTTP/1.1\r\nHost: {wan}\r\nConnection: close\r\n\r\n").into_bytes();
    match send(isp, web, req) {
        Err(e) => eprintln!("web UI from the WAN side: {e} (as it should)"),
        Ok(a) => panic!("the web UI answers on the WAN address {wan}: {} {}", a.status, a.body),
    }
    let fwd: SocketAddr = format!("{wan}:{forward_port}").parse().unwrap();
    let req = format!("GET /marker.txt HTTP/1.1\r\nHost: {wan}:{forward_port}\r\nConnection: close\r\n\r\n").into_bytes();
    let got = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || {
        let a = send(isp, fwd, req.clone()).ok()?;
        (a.status == 200 && a.body.contains(marker)).then_some(a)
    });
    assert!(got.is_some(), "the port forward {wan}:{forward_port} does not reach the laptop's server");
}

/// Raw requests against the logged-in UI at `host`: Host allow-list, path traversal,
/// tokens and Origin, GET never changing state, bad lengths and a 10 MB body; the idle
/// timeout through /etc/oxwrt/web.toml (webd restarts: every session ends).
pub fn over_http(guest: &mut Guest, ns: &Netns, host: &str, password: &str) {
    let addr: SocketAddr = format!("{host}:80").parse().unwrap();

    // DNS rebinding: a name that is not the router's.
    for name in ["attacker.example", "attacker.example:80", "oxwrt.attacker.example"] {
        let a = send(ns, addr, format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").into_bytes()).unwrap();
        assert_eq!(a.status, 421, "Host: {name}: {a:?}");
    }

    // Logged in: forms without the token, with a wrong one, from another site: 403.
    let mut c = Client::new(ns, host);
    let a = c.login(password);
    assert_eq!((a.status, a.header("location")), (303, Some("/")), "login: {a:?}");
    // Path traversal, logged in (a path that would normalize to a page or the backup
    // must not reach it): 404 before any route, nothing leaks.
    for path in [
        "/../../etc/passwd",
        "/static/../../etc/oxwrt/webd.password",
        "/static/../system/backup",
        "/./api/status",
        "/system/./backup",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/.%2e/.%2e/etc/shadow",
        "/%2e/system/backup",
        "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%5c..%5cetc%5cpasswd",
        "/api/status%00.html",
        "/system/backup/../../../etc/passwd",
    ] {
        let a = c.get(path);
        assert_eq!(a.status, 404, "{path}: {a:?}");
        assert!(!a.body.contains("root:") && !a.body.contains("scrypt") && !a.body.contains("[lan]"), "{path}: a file leaked: {}", a.body);
    }
    assert_eq!(c.get("/system/backup").status, 200, "the backup itself, for this session");
    let page = c.get("/system");
    assert_eq!(page.status, 200);
    let token = page.csrf();
    let forged = "forged-name";
    let own = c.own_origin();
    for (what, t, headers) in [
        ("no token", "", own.as_str()),
        ("a wrong token", "0123456789abcdef0123456789abcdef", own.as_str()),
        ("a foreign Origin", token.as_str(), "Origin: http://attacker.example\r\n"),
        ("Origin: null", token.as_str(), "Origin: null\r\n"),
        ("a foreign Referer", token.as_str(), "Referer: http://attacker.example/x\r\n"),
    ] {
        let fields: Vec<(&str, &str)> = if t.is_empty() { vec![("hostname", forged)] } else { vec![("csrf", t), ("hostname", forged)] };
        let a = c.post("/system/hostname", &fields, headers);
        assert_eq!(a.status, 403, "{what}: {a:?}");
    }
    let a = c.post("/logout", &[], &own);
    assert_eq!(a.status, 403, "logout without a token");
    // GET never changes state: form paths by GET are not the forms.
    for path in
        [format!("/system/hostname?csrf={token}&hostname={forged}"), format!("/logout?csrf={token}"), format!("/system/reboot?csrf={token}&confirm=yes")]
    {
        let a = c.get(&path);
        assert!(matches!(a.status, 404 | 405), "GET {path}: {a:?}");
    }
    let page = c.get("/system");
    assert_eq!(page.status, 200, "still logged in after the refused logout and GET /logout");
    assert!(!page.body.contains(forged), "a refused request changed the hostname");
    assert!(!guest.shell("cat /etc/oxwrt/hostname").contains(forged), "a refused request wrote /etc/oxwrt/hostname");
    // The same form with the token and the router's Origin works (the refusals above were
    // for the token and the Origin, not for the form).
    let a = c.post("/system/hostname", &[("csrf", &token), ("hostname", "webui-test")], &own);
    assert!(a.status == 200 && a.body.contains("Saved"), "{a:?}");
    guest.shell("rm /etc/oxwrt/hostname");

    // uhttpd's CVE-2019-19945: a negative length, a 10 MB body: 400/413, webd serves on.
    let negative = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(send(ns, addr, negative.into_bytes()).map(|a| a.status), Ok(400), "Content-Length -1 then chunked");
    let negative = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\n\r\nhello");
    assert_eq!(send(ns, addr, negative.into_bytes()).map(|a| a.status), Ok(400), "Content-Length -1");
    let mut chunked = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: -1\r\n\r\n").into_bytes();
    for _ in 0..160 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend(std::iter::repeat_n(b'a', 0x10000));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(send(ns, addr, chunked).map(|a| a.status), Ok(413), "10 MB chunked");
    let mut big = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10485760\r\n\r\n").into_bytes();
    big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    assert_eq!(send(ns, addr, big).map(|a| a.status), Ok(413), "10 MB Content-Length");
    assert_eq!(c.get("/system").status, 200, "webd still serving after the bad bodies");

    // The idle timeout (web.toml, 5 s here): a session that only polls /api/status ends.
    guest.shell("echo session_idle = 5 > /etc/oxwrt/web.toml");
    restart_webd(guest, ns, addr);
    let mut c = Client::new(ns, host);
    assert_eq!(c.login(password).status, 303);
    assert_eq!(c.get("/").status, 200);
    let start = Instant::now();
    let refused = loop {
        let a = c.get("/api/status");
        if a.status == 401 {
            break start.elapsed();
        }
        assert_eq!(a.status, 200, "{a:?}");
        assert!(start.elapsed() < Duration::from_secs(30), "the polled session was still served after 30 s (idle timeout 5 s)");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(refused >= Duration::from_secs(4), "refused after {refused:?}, before the 5 s idle timeout");
    assert_eq!(c.get("/").header("location"), Some("/login"), "the page after the idle timeout");
    eprintln!("idle session (timeout 5 s) refused after {:.1} s of polling", refused.as_secs_f64());
    guest.shell("rm /etc/oxwrt/web.toml");
    restart_webd(guest, ns, addr);
}

/// 10 failed logins from the laptop: the next, even with the right password, waits >= 30 s
/// (the server says how long: Retry-After and the page; not slept through here). The
/// laptop's address stays throttled after this.
pub fn throttle(ns: &Netns, host: &str, password: &str) {
    let mut c = Client::new(ns, host);
    for i in 0..10 {
        let a = c.login(&format!("guess {i}"));
        assert_eq!(a.status, 403, "failed login {i}: {a:?}");
    }
    let a = c.login(password);
    assert_eq!(a.status, 429, "the 11th attempt: {a:?}");
    let wait: u64 = a.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no Retry-After: {a:?}"));
    assert!(wait >= 30, "Retry-After {wait}");
    assert!(a.body.contains(&format!("try again in {wait} s")), "{}", a.body);
    assert!(c.session.is_none(), "no session while throttled");
    std::thread::sleep(Duration::from_secs(3));
    let again = c.login(password);
    assert_eq!(again.status, 429, "3 s later, still waiting");
    let later: u64 = again.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!((wait.saturating_sub(5)..wait).contains(&later), "Retry-After {wait}, 3 s later {later}");
}

/// `service restart webd` on the console; waits until the new webd answers at `addr`.
fn restart_webd(guest: &mut Guest, ns: &Netns, addr: SocketAddr) {
    guest.shell("service restart webd");
    let up = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(500));
        let req = format!("GET /login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", addr.ip()).into_bytes();
        send(ns, addr, req).ok().filter(|a| a.status == 200)
    });
    assert!(up.is_some(), "webd did not answer at {addr} after `service restart webd`\n{}", guest.tail());
}
