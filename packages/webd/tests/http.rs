//! End to end: the built webd binary on an ephemeral loopback port, real HTTP over TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

const WEBD: &str = env!("CARGO_BIN_EXE_webd");

/// A running webd; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    _stderr: BufReader<ChildStderr>,
}

impl Server {
    /// `webd --listen 127.0.0.1:0`; the port comes from its "listening on" log line.
    fn start() -> Server {
        let mut child =
            Command::new(WEBD).args(["--listen", "127.0.0.1:0"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start webd");
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
        Server { child, addr, _stderr: stderr }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect to webd");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// One request on its own connection.
    fn request(&self, method: &str, path: &str) -> Response {
        let mut s = self.connect();
        send(&mut s, method, path);
        read_response(&mut BufReader::new(s), method == "HEAD")
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
}

/// A request with `Host: 127.0.0.1:PORT`, as a browser sends it for the address typed.
fn send(s: &mut TcpStream, method: &str, path: &str) {
    let host = s.peer_addr().unwrap();
    send_host(s, method, path, &host.to_string());
}

fn send_host(s: &mut TcpStream, method: &str, path: &str, host: &str) {
    let extra = if method == "POST" { "Content-Length: 2\r\n\r\n{}" } else { "\r\n" };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: webd-test\r\n{extra}").unwrap();
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

fn uname() -> nix::sys::utsname::UtsName {
    nix::sys::utsname::uname().unwrap()
}

fn hostname() -> String {
    uname().nodename().to_str().unwrap().to_owned()
}

fn kernel_release() -> String {
    uname().release().to_str().unwrap().to_owned()
}

/// MemTotal from /proc/meminfo, read here independently of webd's parser.
fn mem_total_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn status_page_is_html_with_hostname_and_kernel() {
    let server = Server::start();
    let r = server.request("GET", "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.body.starts_with("<!DOCTYPE html>"), "{}", r.body);
    assert!(r.body.trim_end().ends_with("</html>"));
    assert!(!r.body.contains("<script"));
    let host = webd::html::escape(&hostname());
    assert!(r.body.contains(&format!("<h1>{host}</h1>")), "hostname {host} not in page:\n{}", r.body);
    assert!(r.body.contains(&webd::html::escape(&kernel_release())), "kernel release not in page");
    assert!(r.body.contains("<td>lo</td>"), "loopback interface not in page");
    assert!(r.body.contains("<code>127.0.0.1/8</code>"));
}

#[test]
fn api_status_is_json_with_the_machines_data() {
    let server = Server::start();
    let r = server.request("GET", "/api/status");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("valid JSON");

    assert_eq!(v["hostname"], hostname());
    assert_eq!(v["kernel"]["release"], kernel_release());
    assert!(v["kernel"]["version"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["oxwrt"]["version"].is_string());
    assert!(v["oxwrt"]["build_id"].is_string());
    assert!(v["uptime_seconds"].as_f64().unwrap() > 0.0, "uptime {}", v["uptime_seconds"]);
    let load = v["load"].as_array().unwrap();
    assert_eq!(load.len(), 3);
    assert!(load.iter().all(|l| l.as_f64().is_some_and(|l| l >= 0.0)));

    let mem = &v["memory"];
    assert_eq!(mem["total_kib"].as_u64(), Some(mem_total_kib()));
    let (total, avail, used) = (mem["total_kib"].as_u64().unwrap(), mem["available_kib"].as_u64().unwrap(), mem["used_kib"].as_u64().unwrap());
    assert!(avail > 0 && avail <= total);
    assert_eq!(used, total - avail);

    let ifs = v["interfaces"].as_array().unwrap();
    let lo = ifs.iter().find(|i| i["name"] == "lo").expect("interface lo");
    assert_eq!(lo["up"], true);
    let addrs = lo["addresses"].as_array().unwrap();
    assert!(addrs.iter().any(|a| a["family"] == "ipv4" && a["address"] == "127.0.0.1" && a["prefix"] == 8), "lo addresses: {addrs:?}");
    for i in ifs {
        assert!(i["name"].is_string() && i["up"].is_boolean() && i["operstate"].is_string(), "{i}");
        assert!(i["mac"].is_null() || i["mac"].as_str().unwrap().len() == 17, "{i}");
    }
}

/// DNS rebinding: a page of evil.example whose name now resolves to the router must not
/// read the UI; the router's own names and IP literals (with or without port) work.
#[test]
fn a_host_the_router_is_not_gets_421() {
    let server = Server::start();
    let port = server.addr.port();
    for host in ["evil.example", "evil.example:80", &format!("{}.evil.example", hostname()), &format!("rebind.example:{port}")] {
        let mut s = server.connect();
        send_host(&mut s, "GET", "/api/status", host);
        let r = read_response(&mut BufReader::new(s), false);
        assert_eq!(r.status, 421, "Host: {host}");
        assert!(r.body.contains("DNS rebinding"), "the body says why: {:?}", r.body);
        assert!(!r.body.contains(&hostname()) || host.contains(&hostname()), "no status data in the refusal");
    }
    for host in
        [format!("127.0.0.1:{port}"), "127.0.0.1".into(), format!("[::1]:{port}"), format!("localhost:{port}"), hostname(), format!("{}.lan", hostname())]
    {
        let mut s = server.connect();
        send_host(&mut s, "GET", "/api/status", &host);
        let r = read_response(&mut BufReader::new(s), false);
        assert_eq!(r.status, 200, "Host: {host}: {}", r.body);
    }
}

#[test]
fn unknown_path_is_404() {
    let server = Server::start();
    for path in ["/nope", "/api", "/api/status/extra", "/index.html"] {
        let r = server.request("GET", path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.header("content-type").is_some());
    }
}

/// webd serves no file by name: a request that tries to walk out (`..`, `.`, encoded dots
/// and slashes, backslashes) gets 400 and a body saying why, never a file's bytes.
#[test]
fn path_traversal_is_refused_with_400_and_never_reads_a_file() {
    let server = Server::start();
    for path in [
        "/../../etc/passwd",
        "/..//..//etc/passwd",
        "/api/../../etc/passwd",
        "/api/status/../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/.%2e/.%2e/etc/passwd",
        "/..%5c..%5cetc%5cpasswd",
        "/./api/status",
        "/api/status%00.html",
    ] {
        let r = server.request("GET", path);
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert!(r.body.starts_with("bad request: the path has a `.` or `..` segment"), "{path}: {}", r.body);
        assert!(!r.body.contains("root:"), "{path}: a file leaked: {}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // An absolute-form target is judged by its path the same way.
    let r = server.request("GET", "http://router/../../etc/passwd");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(!r.body.contains("root:"), "{}", r.body);
    // The pages themselves are still served.
    assert_eq!(server.request("GET", "/api/status").status, 200);
}

#[test]
fn post_is_405() {
    let server = Server::start();
    for path in ["/", "/api/status"] {
        let r = server.request("POST", path);
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

/// HEAD has GET's headers and no body, and the connection stays usable (keep-alive): a
/// body after HEAD would be read as the next status line and fail.
#[test]
fn head_then_get_on_one_keep_alive_connection() {
    let server = Server::start();
    let mut s = server.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        send(&mut s, "HEAD", "/api/status");
        let head = read_response(&mut r, true);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("application/json"));
        assert!(head.header("content-length").unwrap().parse::<usize>().unwrap() > 0);
        send(&mut s, "GET", "/");
        let get = read_response(&mut r, false);
        assert_eq!(get.status, 200);
        assert!(get.body.starts_with("<!DOCTYPE html>"));
    }
}

#[test]
fn malformed_request_gets_400_and_the_server_keeps_serving() {
    let server = Server::start();
    let mut s = server.connect();
    s.write_all(b"GARBAGE\x01 \r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
    assert_eq!(server.request("GET", "/api/status").status, 200);
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
/// a real request is still answered once the header timeout closes them, and the idle
/// ones are closed by the server. Takes about webd's header timeout (10 s).
#[test]
fn idle_connections_beyond_the_cap_time_out() {
    let server = Server::start();
    let start = std::time::Instant::now();
    let idle: Vec<TcpStream> = (0..webd::server::MAX_CONNECTIONS + 8).map(|_| server.connect()).collect();
    let r = server.request("GET", "/api/status");
    assert_eq!(r.status, 200);
    let waited = start.elapsed();
    assert!(waited < webd::server::HEADER_TIMEOUT * 2, "answered after {waited:?}");
    // The first idle connection was admitted and then closed by webd: EOF, no response.
    let mut first = &idle[0];
    let mut buf = [0u8; 64];
    assert_eq!(first.read(&mut buf).expect("EOF, not a client-side timeout"), 0);
}
