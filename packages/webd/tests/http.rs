//! End to end: the built webd binary on an ephemeral loopback port with its own
//! configuration directory, real HTTP over TCP: first boot, login, sessions, CSRF, Origin,
//! throttling, limits, headers, escaping.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

const WEBD: &str = env!("CARGO_BIN_EXE_webd");
const PASSWORD: &str = "correct horse battery";

/// A running webd with a fresh configuration directory; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    _stderr: BufReader<ChildStderr>,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// `webd --listen 127.0.0.1:0 --config-dir TMP ARGS`; the port comes from its
    /// "listening on" log line.
    fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(WEBD)
            .args(["--listen", "127.0.0.1:0", "--config-dir"])
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start webd");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read webd's log");
        let addr = match line.trim_end().strip_prefix("webd: listening on ") {
            Some(a) => a.parse().expect("address in the log line"),
            None => {
                let _ = child.kill();
                panic!("unexpected first log line: {line:?}");
            }
        };
        Server { child, addr, dir, _stderr: stderr }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect to webd");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// One request on its own connection; `headers` are extra lines ("Name: value").
    fn send(&self, method: &str, path: &str, headers: &[String], body: &str) -> Response {
        let mut s = self.connect();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: webd-test\r\n", self.host());
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        if method == "POST" {
            req.push_str(&format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s), method == "HEAD")
    }

    fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], "")
    }

    /// The password file.
    fn password_file(&self) -> PathBuf {
        self.dir.path().join("webd.password")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name` this response sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).find_map(|(_, v)| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k == name).then(|| val.to_owned())
        })
    }

    fn set_cookie_line(&self, name: &str) -> Option<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value of the first `name="csrf"` hidden field.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// Read one response: status line, headers, then Content-Length bytes (none for HEAD).
fn read_response(r: &mut impl BufRead, head: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header line");
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut resp = Response { status, headers, body: String::new() };
    let len: usize = resp.header("content-length").expect("content-length").parse().unwrap();
    if !head {
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        resp.body = String::from_utf8(body).unwrap();
    }
    resp
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A browser-like client: its cookies, Origin on POSTs.
struct Browser<'a> {
    server: &'a Server,
    pre: Option<String>,
    session: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(server: &'a Server) -> Browser<'a> {
        Browser { server, pre: None, session: None }
    }

    fn cookies(&self) -> Vec<String> {
        let mut c = Vec::new();
        if let Some(p) = &self.pre {
            c.push(format!("oxwrt_pre={p}"));
        }
        if let Some(s) = &self.session {
            c.push(format!("oxwrt_session={s}"));
        }
        if c.is_empty() {
            vec![]
        } else {
            vec![format!("Cookie: {}", c.join("; "))]
        }
    }

    fn remember(&mut self, r: &Response) {
        if let Some(p) = r.cookie("oxwrt_pre") {
            self.pre = Some(p);
        }
        if let Some(s) = r.cookie("oxwrt_session") {
            self.session = if s.is_empty() { None } else { Some(s) };
        }
    }

    fn get(&mut self, path: &str) -> Response {
        let r = self.server.send("GET", path, &self.cookies(), "");
        self.remember(&r);
        r
    }

    /// A POST as a form on the router's page sends it: with Origin.
    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut h = self.cookies();
        h.push(format!("Origin: {}", self.server.origin()));
        self.post_raw(path, fields, h)
    }

    fn post_raw(&mut self, path: &str, fields: &[(&str, &str)], headers: Vec<String>) -> Response {
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let r = self.server.send("POST", path, &headers, &body);
        self.remember(&r);
        r
    }

    /// First boot: GET /setup, POST the password; now logged in.
    fn set_password(&mut self, pw: &str) {
        let form = self.get("/setup");
        assert_eq!(form.status, 200, "{}", form.body);
        let r = self.post("/setup", &[("csrf", &form.csrf()), ("password", pw), ("repeat", pw)]);
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some("/"));
        assert!(self.session.is_some());
    }

    fn login(&mut self, pw: &str) -> Response {
        let form = self.get("/login");
        let token = if form.status == 200 { form.csrf() } else { self.pre.clone().unwrap_or_default() };
        self.post("/login", &[("csrf", &token), ("password", pw)])
    }

    /// The session's CSRF token, from a logged-in page.
    fn token(&mut self) -> String {
        let r = self.get("/system");
        assert_eq!(r.status, 200, "{}", r.body);
        r.csrf()
    }
}

fn hostname() -> String {
    nix::sys::utsname::uname().unwrap().nodename().to_str().unwrap().to_owned()
}

#[test]
fn first_boot_every_page_leads_to_setting_a_password() {
    let server = Server::start();
    for path in ["/", "/clients", "/system", "/logs", "/login"] {
        let r = server.get(path);
        assert_eq!((r.status, r.header("location")), (303, Some("/setup")), "{path}");
    }
    // Nothing can be changed before.
    let mut b = Browser::new(&server);
    let form = b.get("/setup");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("no password yet"), "{}", form.body);
    let pre = form.set_cookie_line("oxwrt_pre").unwrap();
    assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Strict"), "{pre}");
    for path in ["/system/password", "/logout", "/login"] {
        let r = b.post(path, &[("csrf", &form.csrf()), ("password", PASSWORD), ("current", ""), ("repeat", PASSWORD)]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    assert!(!server.password_file().exists(), "no password written");
    // The status JSON is readable before (nothing to protect yet), not after.
    assert_eq!(server.get("/api/status").status, 200);
    assert_eq!(server.get("/api/log").status, 401, "the log never without a password");
    // A weak or mismatched password is refused next to the field.
    let r = b.post("/setup", &[("csrf", &form.csrf()), ("password", "short"), ("repeat", "short")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<div class=\"err\">at least 8 characters</div>"), "{}", r.body);
    b.set_password(PASSWORD);
    let mode = std::fs::metadata(server.password_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let text = std::fs::read_to_string(server.password_file()).unwrap();
    assert!(text.starts_with("scrypt ") && !text.contains(PASSWORD), "{text}");
    // Once set, /setup is closed and the API needs a session.
    assert_eq!(server.get("/setup").header("location"), Some("/login"));
    let mut other = Browser::new(&server);
    let form = other.get("/login");
    let r = other.post("/setup", &[("csrf", &form.csrf()), ("password", "attacker1234"), ("repeat", "attacker1234")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(server.get("/api/status").status, 401);
}

#[test]
fn login_overview_logout() {
    let server = Server::start();
    Browser::new(&server).set_password(PASSWORD);
    let mut b = Browser::new(&server);
    assert_eq!(b.get("/").header("location"), Some("/login"));
    let r = b.login("wrong password");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Wrong password."));
    assert!(b.session.is_none());
    let r = b.login(PASSWORD);
    assert_eq!((r.status, r.header("location")), (303, Some("/")), "{}", r.body);
    let cookie = r.set_cookie_line("oxwrt_session").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    assert_eq!(b.session.as_ref().unwrap().len(), 32, "128 bits in hex");
    let page = b.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("<b>{}</b>", hostname())) || !hostname().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    assert!(page.body.contains("<td>lo</td>"), "{}", page.body);
    let api = b.get("/api/status");
    assert_eq!(api.status, 200);
    let v: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(v["hostname"], hostname());
    for path in ["/clients", "/system", "/logs"] {
        assert_eq!(b.get(path).status, 200, "{path}");
    }
    // The logs page's feed: the ring from init's control socket, which a host has not.
    let feed = b.get("/api/log?q=netd");
    assert_eq!(feed.status, 503, "{}", feed.body);
    assert!(feed.body.contains("cannot reach init"), "{}", feed.body);
    assert_eq!(server.get("/api/log").status, 401, "not without a session");
    assert_eq!(b.post("/api/log", &[("csrf", &page.csrf())]).status, 405);
    let token = page.csrf();
    let r = b.post("/logout", &[("csrf", &token)]);
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert!(b.session.is_none(), "the cookie is cleared");
    // The old id is dead on the server too.
    let dead = server.send("GET", "/", &[format!("Cookie: oxwrt_session={}", r.cookie("oxwrt_session").unwrap_or_default())], "");
    assert_eq!(dead.status, 303);
}

/// Every state-changing request needs the session's token and a same-site Origin; GET
/// changes nothing.
#[test]
fn csrf_token_and_origin_are_required() {
    let server = Server::start();
    let mut b = Browser::new(&server);
    b.set_password(PASSWORD);
    let token = b.token();
    let change =
        |t: &str| vec![("csrf", t.to_owned()), ("current", PASSWORD.to_owned()), ("password", "new password 1".into()), ("repeat", "new password 1".into())];
    let fields = |v: &[(&'static str, String)]| v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    for (what, t) in [("no token", ""), ("a wrong token", "00000000000000000000000000000000")] {
        let f = fields(&change(t));
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = b.post("/system/password", &f);
        assert_eq!(r.status, 403, "{what}: {}", r.body);
    }
    let f = fields(&change(&token));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for origin in ["Origin: http://evil.example", "Origin: null", "Referer: http://evil.example/page"] {
        let mut h = b.cookies();
        h.push(origin.to_owned());
        let r = b.post_raw("/system/password", &f, h);
        assert_eq!(r.status, 403, "{origin}: {}", r.body);
        assert!(r.body.contains("another site"), "{}", r.body);
    }
    // Logout too (no token: still logged in).
    let r = b.post("/logout", &[]);
    assert_eq!(r.status, 403);
    assert_eq!(b.get("/").status, 200);
    // GET never changes state: a form's path by GET is not the form.
    assert_eq!(b.get("/logout").status, 405);
    assert_eq!(b.get("/system/password").status, 404);
    assert_eq!(b.get("/").status, 200, "still logged in after GET /logout");
    // The password is unchanged: the old one logs in.
    assert_eq!(Browser::new(&server).login(PASSWORD).status, 303);
    // And with the token and our Origin, it changes; every session ends.
    let mut second = Browser::new(&server);
    assert_eq!(second.login(PASSWORD).status, 303);
    let r = b.post("/system/password", &f);
    assert_eq!((r.status, r.header("location")), (303, Some("/login")), "{}", r.body);
    assert_eq!(b.get("/").status, 303, "this session ended");
    assert_eq!(second.get("/").status, 303, "every session ended");
    assert_eq!(Browser::new(&server).login(PASSWORD).status, 403);
    assert_eq!(Browser::new(&server).login("new password 1").status, 303);
}

/// 10 failed logins from one address: the next attempt, even with the right password,
/// waits at least 30 s.
#[test]
fn ten_failed_logins_make_the_next_wait_30_s() {
    let server = Server::start();
    Browser::new(&server).set_password(PASSWORD);
    let mut b = Browser::new(&server);
    for i in 0..10 {
        assert_eq!(b.login(&format!("guess {i}")).status, 403, "attempt {i}");
    }
    let start = Instant::now();
    let r = b.login(PASSWORD);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(b.session.is_none());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 29, "Retry-After {wait}");
    assert!(r.body.contains("Too many failed logins"), "{}", r.body);
    assert!(start.elapsed() < Duration::from_secs(2), "refused without hashing");
}

/// A session idle past its timeout is refused even while a page polls /api/status.
#[test]
fn idle_session_ends_even_while_polling() {
    let server = Server::start_with(&["--session-idle", "3"]);
    let mut b = Browser::new(&server);
    b.set_password(PASSWORD);
    assert_eq!(b.get("/").status, 200);
    let start = Instant::now();
    let mut refused = None;
    while start.elapsed() < Duration::from_secs(6) {
        let r = b.get("/api/status");
        if r.status == 401 {
            refused = Some(start.elapsed());
            break;
        }
        assert_eq!(r.status, 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    let at = refused.expect("the poll was still served after 6 s");
    assert!(at >= Duration::from_millis(2500), "refused after {at:?}");
    assert_eq!(b.get("/").header("location"), Some("/login"));
}

#[test]
fn pages_carry_the_security_headers() {
    let server = Server::start();
    for path in ["/setup", "/", "/static/style.css", "/static/app.js", "/nope"] {
        let r = server.get(path);
        let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    }
    let page = server.get("/setup").body;
    assert!(!page.contains("<script>") && !page.contains(" onclick") && !page.contains("<style"), "{page}");
}

/// A value from the request shown on a page is text: the log filter's word.
#[test]
fn payloads_are_rendered_as_text() {
    let server = Server::start();
    let mut b = Browser::new(&server);
    b.set_password(PASSWORD);
    for payload in ["<img src=x onerror=alert(1)>", "\"; reboot #", "\"><script>alert(1)</script>"] {
        let r = b.get(&format!("/logs?q={}", enc(payload)));
        assert_eq!(r.status, 200);
        assert!(!r.body.contains(payload), "{payload} verbatim in {}", r.body);
        let escaped = payload.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        assert!(r.body.contains(&format!("value=\"{escaped}\"")), "{escaped} not in {}", r.body);
    }
}

/// DNS rebinding: a page of evil.example whose name now resolves to the router must not
/// read the UI; the router's own names and IP literals (with or without port) work.
#[test]
fn a_host_the_router_is_not_gets_421() {
    let server = Server::start();
    let port = server.addr.port();
    for host in ["evil.example", "attacker.example", "evil.example:80", &format!("{}.evil.example", hostname()), &format!("rebind.example:{port}")] {
        let mut s = server.connect();
        write!(s, "GET /api/status HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
        let r = read_response(&mut BufReader::new(s), false);
        assert_eq!(r.status, 421, "Host: {host}");
        assert!(r.body.contains("DNS rebinding"), "the body says why: {:?}", r.body);
    }
    for host in
        [format!("127.0.0.1:{port}"), "127.0.0.1".into(), format!("[::1]:{port}"), format!("localhost:{port}"), hostname(), format!("{}.lan", hostname())]
    {
        let mut s = server.connect();
        write!(s, "GET /api/status HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
        let r = read_response(&mut BufReader::new(s), false);
        assert_eq!(r.status, 200, "Host: {host}: {}", r.body);
    }
}

#[test]
fn unknown_paths_and_traversal_are_404() {
    let server = Server::start();
    for path in [
        "/nope",
        "/api",
        "/api/status/extra",
        "/index.html",
        "/static/../../etc/passwd",
        "/../../etc/passwd",
        "/..//..//etc/passwd",
        "/api/status/../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/.%2e/.%2e/etc/passwd",
        "/..%5c..%5cetc%5cpasswd",
        "/./api/status",
        "/api/status%00.html",
        "http://router/../../etc/passwd",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(!r.body.contains("root:"), "{path}: a file leaked: {}", r.body);
    }
    assert_eq!(server.get("/api/status").status, 200);
}

#[test]
fn other_methods_are_405() {
    let server = Server::start();
    for (method, path) in [("PUT", "/"), ("DELETE", "/api/status"), ("POST", "/api/status"), ("POST", "/static/style.css")] {
        let r = server.send(method, path, &[], "");
        assert_eq!(r.status, 405, "{method} {path}");
        assert!(r.header("allow").is_some());
    }
}

/// HEAD has GET's headers and no body, and the connection stays usable (keep-alive).
#[test]
fn head_then_get_on_one_keep_alive_connection() {
    let server = Server::start();
    let mut s = server.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        write!(s, "HEAD /api/status HTTP/1.1\r\nHost: {}\r\n\r\n", server.host()).unwrap();
        let head = read_response(&mut r, true);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("application/json"));
        write!(s, "GET /setup HTTP/1.1\r\nHost: {}\r\n\r\n", server.host()).unwrap();
        let get = read_response(&mut r, false);
        assert_eq!(get.status, 200);
        assert!(get.body.starts_with("<!DOCTYPE html>"));
    }
}

/// Raw bytes to webd; what it answers (the status line's code), or None if it closed.
fn raw(server: &Server, bytes: &[u8]) -> Option<u16> {
    let mut s = server.connect();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// uhttpd's CVE-2019-19945 and friends: a negative or absurd length, a 10 MB body, an
/// endless chunked body, a huge header: refused, and webd keeps serving.
#[test]
fn bad_lengths_and_big_bodies_are_refused_and_webd_keeps_serving() {
    let server = Server::start();
    let host = server.host();
    // Content-Length -1 before Transfer-Encoding: 400. After it: the chunks frame the body
    // and the length is dropped (RFC 9112 6.3); this one has no form token: 403.
    let negative_first = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(raw(&server, negative_first.as_bytes()), Some(400));
    let chunked_negative = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: -1\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(raw(&server, chunked_negative.as_bytes()), Some(403));
    let negative = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\n\r\n");
    assert_eq!(raw(&server, negative.as_bytes()), Some(400));
    let bad_chunk = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n");
    assert!(matches!(raw(&server, bad_chunk.as_bytes()), Some(400) | None));
    // 10 MB announced: 413 before reading it.
    let mut big = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10485760\r\n\r\n").into_bytes();
    big.extend(std::iter::repeat_n(b'a', 256 * 1024));
    assert_eq!(raw(&server, &big), Some(413));
    // 10 MB chunked with Content-Length -1: 413 once past the limit.
    let mut chunked = format!("POST /login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: -1\r\n\r\n").into_bytes();
    for _ in 0..160 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend(std::iter::repeat_n(b'a', 0x10000));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(&server, &chunked), Some(413));
    // A request line or headers over the 16 KiB buffer.
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: {host}\r\n\r\n", "a".repeat(20_000));
    let code = raw(&server, long_line.as_bytes());
    assert!(matches!(code, Some(400 | 414 | 431)), "{code:?}");
    let long_header = format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000));
    let code = raw(&server, long_header.as_bytes());
    assert!(matches!(code, Some(400 | 431)), "{code:?}");
    assert_eq!(raw(&server, b"GARBAGE\x01 \r\n\r\n"), Some(400));
    assert_eq!(server.get("/api/status").status, 200, "still serving");
}

#[test]
fn port_in_use_exits_nonzero_with_a_clear_message() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = Command::new(WEBD).args(["--listen", &addr.to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    // glibc: "Address already in use"; musl: "Address in use".
    assert!(err.starts_with(&format!("webd: cannot listen on {addr}: Address ")), "{err:?}");
    assert!(err.trim_end().ends_with("in use"), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
}

#[test]
fn help_and_bad_arguments() {
    let out = Command::new(WEBD).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("--listen ADDR"));
    let out = Command::new(WEBD).args(["--listen", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("webd: --listen 'nowhere'"));
}

/// Idle connections cannot pin the server: with more idle connections open than the cap,
/// a real request is still answered once the header timeout closes them. Takes about
/// webd's header timeout (10 s).
#[test]
fn idle_connections_beyond_the_cap_time_out() {
    let server = Server::start();
    let start = Instant::now();
    let idle: Vec<TcpStream> = (0..webd::server::MAX_CONNECTIONS + 8).map(|_| server.connect()).collect();
    let r = server.get("/api/status");
    assert_eq!(r.status, 200);
    let waited = start.elapsed();
    assert!(waited < webd::server::HEADER_TIMEOUT * 2, "answered after {waited:?}");
    let mut first = &idle[0];
    let mut buf = [0u8; 64];
    assert_eq!(first.read(&mut buf).expect("EOF, not a client-side timeout"), 0);
}

/// The network page edits network.toml and firewall.toml through oxwrt-config: valid input
/// is saved (atomically, both files), invalid input is refused next to its field and
/// nothing is written.
#[test]
fn network_page_saves_through_the_config_crate() {
    let server = Server::start();
    let mut b = Browser::new(&server);
    b.set_password(PASSWORD);
    let page = b.get("/network");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("value=\"192.168.1.1/24\""), "{}", page.body);
    let token = page.csrf();
    let main = |start: &str, lan: &str| {
        vec![
            ("csrf", token.clone()),
            ("lan_address", lan.to_owned()),
            ("dhcp_enabled", "on".to_owned()),
            ("dhcp_start", start.to_owned()),
            ("dhcp_end", "192.168.1.60".to_owned()),
            ("lease_time", "1h".to_owned()),
            ("wan_proto", "dhcp".to_owned()),
            ("wan_address", String::new()),
            ("wan_gateway", String::new()),
            ("wan_dns", String::new()),
            ("dns_upstream", "1.1.1.1 9.9.9.9".to_owned()),
            ("dns_domain", "home".to_owned()),
            ("dns_rebind", "on".to_owned()),
        ]
    };
    let post = |b: &mut Browser, path: &str, f: &[(&str, String)]| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post(path, &f)
    };
    let net = server.dir.path().join("network.toml");
    // A DNS server that is not an address: refused under its field.
    let mut bad = main("192.168.1.50", "192.168.1.1/24");
    bad[10].1 = "1.1.1.1 dns.example".into();
    let r = post(&mut b, "/network", &bad);
    assert_eq!(r.status, 400);
    let under = r.body.split("id=\"dns_upstream\"").nth(1).unwrap();
    assert!(under.split("<label").next().unwrap().contains("<div class=\"err\">DNS server: "), "{}", r.body);
    assert!(!net.exists());
    // Outside the LAN: refused by the configuration's own rule, shown under the field.
    let r = post(&mut b, "/network", &main("192.168.2.50", "192.168.1.1/24"));
    assert_eq!(r.status, 400, "{}", r.body);
    let under = r.body.split("id=\"dhcp_start\"").nth(1).unwrap();
    assert!(under.split("<label").next().unwrap().contains("<div class=\"err\">dhcp.start: "), "{}", r.body);
    assert!(r.body.contains("value=\"192.168.2.50\""), "the input is kept: {}", r.body);
    assert!(!net.exists(), "nothing saved");
    // Not an address at all: the type's parser says so.
    let r = post(&mut b, "/network", &main("192.168.1.50", "192.168.1.x/24"));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<div class=\"err\">LAN address: "), "{}", r.body);
    assert!(!net.exists());
    // Valid: saved, and what is saved loads back through the crate.
    let r = post(&mut b, "/network", &main("192.168.1.50", "192.168.1.1/24"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Saved and applied."), "{}", r.body);
    let c = oxwrt_config::Config::load(server.dir.path()).unwrap();
    assert_eq!(c.network.dhcp.pool(c.network.lan.address), ("192.168.1.50".parse().unwrap(), "192.168.1.60".parse().unwrap()));
    assert_eq!(c.network.dhcp.lease_time.0, 3600);
    assert_eq!(c.network.dns.upstream, vec!["1.1.1.1".parse::<std::net::Ipv4Addr>().unwrap(), "9.9.9.9".parse().unwrap()]);
    assert_eq!(c.network.dhcp.domain, "home");
    assert!(c.network.dns.rebind_protection);
    // A port forward named with markup: saved or refused, but never markup on the page.
    let xss = "<img src=x onerror=alert(1)>";
    let f = [
        ("csrf", token.clone()),
        ("name", xss.into()),
        ("proto", "tcp".into()),
        ("wan_port", "8080".into()),
        ("to", "192.168.1.20".into()),
        ("to_port", "80".into()),
    ];
    let r = post(&mut b, "/network/forward/add", &f);
    assert!(r.status == 200 || r.status == 400, "{}", r.body);
    assert!(!r.body.contains(xss), "{}", r.body);
    // A firewall change waits for its confirmation; keep it.
    assert!(r.body.contains("Keep this configuration"), "{}", r.body);
    let r = post(&mut b, "/network/confirm", &[("csrf", token.clone())]);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut web = f.clone();
    web[1].1 = "web".into();
    web[3].1 = "8081".into();
    let r = post(&mut b, "/network/forward/add", &web);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<td class=\"name\">web</td>"), "{}", r.body);
    assert_eq!(post(&mut b, "/network/confirm", &[("csrf", token.clone())]).status, 200);
    let fw = oxwrt_config::Config::load(server.dir.path()).unwrap().firewall;
    assert!(fw.forwards.iter().any(|f| f.name == "web" && f.wan_port.to_string() == "8081"), "{fw:?}");
    let page = b.get("/network");
    assert!(!page.body.contains(xss));
    // A static lease, then removed.
    let r = post(
        &mut b,
        "/network/lease/add",
        &[("csrf", token.clone()), ("mac", "02:00:00:00:00:42".into()), ("ip", "192.168.1.42".into()), ("hostname", "nas".into())],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(oxwrt_config::Config::load(server.dir.path()).unwrap().network.dhcp.static_leases.len(), 1);
    let r = post(&mut b, "/network/lease/delete", &[("csrf", token.clone()), ("index", "0".into())]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(oxwrt_config::Config::load(server.dir.path()).unwrap().network.dhcp.static_leases.is_empty());
    let r = post(&mut b, "/network/lease/delete", &[("csrf", token.clone()), ("index", "0".into())]);
    assert_eq!(r.status, 400, "a stale index is refused: {}", r.body);
}

impl Browser<'_> {
    /// A multipart/form-data POST with one file, as the restore form sends it.
    fn upload(&mut self, path: &str, csrf: &str, file: &[u8]) -> Response {
        let mut body = format!("--B0undary\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--B0undary\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"b.tar\"\r\nContent-Type: application/x-tar\r\n\r\n").into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--B0undary--\r\n");
        let mut s = self.server.connect();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nContent-Type: multipart/form-data; boundary=B0undary\r\nContent-Length: {}\r\n",
            self.server.host(),
            self.server.origin(),
            body.len()
        );
        for c in self.cookies() {
            head.push_str(&c);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        read_response(&mut BufReader::new(s), false)
    }
}

/// Backup downloads the configuration as tar; restore takes a checked archive back, and
/// refuses a bad one without touching anything; reboot needs its confirmation.
#[test]
fn backup_restore_and_reboot() {
    let server = Server::start();
    let net = server.dir.path().join("network.toml");
    std::fs::write(&net, "[lan]\naddress = \"10.7.0.1/24\"\n").unwrap();
    let mut b = Browser::new(&server);
    assert_eq!(b.get("/system/backup").header("location"), Some("/setup"));
    b.set_password(PASSWORD);
    let token = b.token();
    let mut s = server.connect();
    write!(s, "GET /system/backup HTTP/1.1\r\nHost: {}\r\nCookie: oxwrt_session={}\r\n\r\n", server.host(), b.session.clone().unwrap()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut len = 0;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line.to_ascii_lowercase().starts_with("content-disposition:") {
            assert!(line.contains("attachment; filename="), "{line}");
        }
    }
    let mut tar = vec![0; len];
    r.read_exact(&mut tar).unwrap();
    assert!(tar.windows(12).any(|w| w == b"network.toml"));
    assert!(!tar.windows(13).any(|w| w == b"webd.password"), "no password in a backup");
    // Restore onto a changed configuration: it comes back.
    std::fs::write(&net, "[lan]\naddress = \"10.9.0.1/24\"\n").unwrap();
    let resp = b.upload("/system/restore", &token, &tar);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.body.contains("Restored network.toml"), "{}", resp.body);
    assert_eq!(std::fs::read_to_string(&net).unwrap(), "[lan]\naddress = \"10.7.0.1/24\"\n");
    // A bad archive: refused, nothing replaced.
    let mut bad = tar.clone();
    let at = bad.windows(10).position(|w| w == b"10.7.0.1/2").unwrap();
    bad[at + 9] = b'9'; // 10.7.0.1/94: invalid (the ustar checksum covers only the header)
    std::fs::write(&net, "[lan]\naddress = \"10.9.0.1/24\"\n").unwrap();
    let resp = b.upload("/system/restore", &token, &bad);
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(resp.body.contains("invalid, nothing was restored"), "{}", resp.body);
    assert_eq!(std::fs::read_to_string(&net).unwrap(), "[lan]\naddress = \"10.9.0.1/24\"\n");
    let resp = b.upload("/system/restore", "wrong-token", &tar);
    assert_eq!(resp.status, 403);
    // Not while a network change waits for its confirmation (its rollback would undo it).
    oxwrt_config::rollback::begin(server.dir.path(), &["network.toml"], "test", u64::MAX).unwrap();
    let resp = b.upload("/system/restore", &token, &tar);
    assert_eq!(resp.status, 409, "{}", resp.body);
    assert!(resp.body.contains("waiting for its confirmation"), "{}", resp.body);
    oxwrt_config::rollback::confirm(server.dir.path()).unwrap();
    // Reboot: only with the box ticked; on this host there is no init to ask.
    let resp = b.post("/system/reboot", &[("csrf", &token)]);
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("Tick the box"), "{}", resp.body);
    let resp = b.post("/system/reboot", &[("csrf", &token), ("confirm", "yes")]);
    assert_eq!(resp.status, 500, "{}", resp.body);
    assert!(resp.body.contains("cannot reach init at /run/init.sock"), "{}", resp.body);
    // Factory reset: only with RESET typed; without init the marker is taken back.
    let resp = b.post("/system/factory-reset", &[("csrf", &token), ("confirm", "reset")]);
    assert_eq!(resp.status, 400);
    let resp = b.post("/system/factory-reset", &[("csrf", &token), ("confirm", "RESET")]);
    assert_eq!(resp.status, 500, "{}", resp.body);
    assert!(resp.body.contains("No factory reset: cannot reach init"), "{}", resp.body);
    assert!(!server.dir.path().join(".factory-reset").exists());
}

/// A LAN, WAN or firewall change not kept within the window comes back by itself; one
/// kept stays; one change at a time; an expired marker is rolled back when webd starts.
#[test]
fn risky_changes_roll_back_unless_kept() {
    let server = Server::start_with(&["--confirm-window", "3"]);
    let mut b = Browser::new(&server);
    b.set_password(PASSWORD);
    let token = b.get("/network").csrf();
    let net = server.dir.path().join("network.toml");
    let fields = |lan: &str, proto: &str, addr: &str, gw: &str| {
        vec![
            ("csrf", token.clone()),
            ("lan_address", lan.to_owned()),
            ("dhcp_enabled", "on".to_owned()),
            ("dhcp_start", String::new()),
            ("dhcp_end", String::new()),
            ("lease_time", "12h".to_owned()),
            ("wan_proto", proto.to_owned()),
            ("wan_address", addr.to_owned()),
            ("wan_gateway", gw.to_owned()),
            ("wan_dns", String::new()),
        ]
    };
    let post = |b: &mut Browser, path: &str, f: &[(&str, String)]| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post(path, &f)
    };
    let lan = || oxwrt_config::Config::load(server.dir.path()).unwrap().network.lan.address.to_string();
    // Move the LAN, do not confirm: back after the window.
    let r = post(&mut b, "/network", &fields("192.168.7.1/24", "dhcp", "", ""));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("http://192.168.7.1/network") && r.body.contains("Keep this configuration"), "{}", r.body);
    assert_eq!(lan(), "192.168.7.1/24");
    assert!(server.dir.path().join(".rollback/pending").exists());
    // One change at a time.
    let r = post(&mut b, "/network", &fields("192.168.8.1/24", "dhcp", "", ""));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("waiting for its confirmation"), "{}", r.body);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) && server.dir.path().join(".rollback/pending").exists() {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(start.elapsed() >= Duration::from_secs(1), "rolled back too early");
    assert!(!server.dir.path().join(".rollback").exists(), "not rolled back after the window");
    assert!(!net.exists() || lan() == "192.168.1.1/24", "the previous LAN address is back: {}", std::fs::read_to_string(&net).unwrap_or_default());
    // A WAN change kept in time stays.
    let r = post(&mut b, "/network", &fields("192.168.1.1/24", "static", "203.0.113.2/24", "203.0.113.1"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(&mut b, "/network/confirm", &[("csrf", token.clone())]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Kept."));
    std::thread::sleep(Duration::from_secs(4));
    let c = oxwrt_config::Config::load(server.dir.path()).unwrap();
    assert_eq!(c.network.wan.proto, oxwrt_config::WanProto::Static);
    assert_eq!(post(&mut b, "/network/confirm", &[("csrf", token.clone())]).status, 409, "nothing pending");
    drop(server);

    // A marker left by an earlier boot (a power cut in the window): webd rolls it back
    // before it starts serving.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("network.toml"), "[lan]\naddress = \"10.0.0.1/24\"\n").unwrap();
    oxwrt_config::rollback::begin(dir.path(), &["network.toml"], "another-boot", 1).unwrap();
    std::fs::write(dir.path().join("network.toml"), "[lan]\naddress = \"10.9.9.1/24\"\n").unwrap();
    let out = Command::new(WEBD).args(["--listen", "127.0.0.1:0", "--config-dir"]).arg(dir.path()).stderr(Stdio::piped()).spawn().unwrap();
    let mut child = out;
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("unconfirmed change rolled back at start: network.toml restored"), "{line}");
    assert_eq!(std::fs::read_to_string(dir.path().join("network.toml")).unwrap(), "[lan]\naddress = \"10.0.0.1/24\"\n");
}

/// The hostname: a DNS label or nothing; markup is refused and shown as text.
#[test]
fn hostname_is_a_label_and_markup_is_text() {
    let server = Server::start();
    let mut b = Browser::new(&server);
    b.set_password(PASSWORD);
    let token = b.token();
    let xss = "<img src=x onerror=alert(1)>";
    let r = b.post("/system/hostname", &[("csrf", &token), ("hostname", xss)]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!r.body.contains(xss), "{}", r.body);
    assert!(r.body.contains("&lt;img src=x onerror=alert(1)&gt;"), "{}", r.body);
    assert!(!server.dir.path().join("hostname").exists());
    let r = b.post("/system/hostname", &[("csrf", &token), ("hostname", "gateway-1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(std::fs::read_to_string(server.dir.path().join("hostname")).unwrap(), "gateway-1\n");
    assert!(b.get("/system").body.contains("value=\"gateway-1\""));
}
