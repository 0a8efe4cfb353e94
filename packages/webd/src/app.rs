//! What a request gets: the checks every request goes through, then the routes.
//!
//! In order, for every request:
//! 1. `Host` must be one of the router's names or an IP literal, else 421
//!    ([`crate::server::host_allowed`]; DNS rebinding);
//! 2. a path with `.`/`..` segments, backslashes or encoded dots, slashes or NULs: 404
//!    ([`crate::server::escapes`]); an unknown path: 404;
//! 3. a body larger than [`MAX_BODY`] (by `Content-Length`, or while reading a chunked
//!    one): 413; hyper itself answers 400 to a bad `Content-Length` (`-1`) or chunk size,
//!    and 431 to a request line and headers over its 16 KiB buffer; with both
//!    `Transfer-Encoding: chunked` and a `Content-Length`, the chunks frame the body and the
//!    length is dropped (RFC 9112 6.3), so a `-1` there is harmless;
//! 4. state changes only on POST; every POST must come from the router's own pages: an
//!    `Origin` (or, without one, a `Referer`) naming another site is refused with 403, and
//!    the form's `csrf` field must equal the session's token (logged-in forms) or the
//!    `oxwrt_pre` cookie (the login and first-password forms, which have no session);
//!    else 403;
//! 5. no password set yet (first boot): every page leads to /setup, every POST but
//!    /setup's is refused; /api/status stays readable (whoever is on the LAN could set the
//!    password and read it anyway);
//! 6. a password set: pages need a session (else 303 to /login), the API too (else 401).
//!
//! Every response carries the security headers of [`secure`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::password::{self, Hash, Params};
use crate::session::{self, Limits, Session, Sessions, Throttle};
use crate::{pages, server};

/// The largest request body webd reads (a form).
pub const MAX_BODY: usize = 64 * 1024;

/// The Content-Security-Policy of every response: the router's own style sheet and script,
/// nothing inline, no framing, forms only to itself.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// webd's state: where the configuration is, the sessions, the login throttle.
pub struct App {
    pub dir: PathBuf,
    pub sessions: Mutex<Sessions>,
    pub throttle: Mutex<Throttle>,
    /// scrypt's parameters for this machine, measured at the first password set.
    params: OnceLock<Params>,
    /// Serializes setting the password (first boot, change).
    setting: Mutex<()>,
    /// How long a risky change waits for its confirmation (`--confirm-window`, 90 s).
    pub confirm_window: std::time::Duration,
}

pub type Resp = Response<Full<Bytes>>;

impl App {
    pub fn new(dir: PathBuf, limits: Limits, confirm_window: std::time::Duration) -> App {
        App {
            dir,
            sessions: Mutex::new(Sessions::new(limits)),
            throttle: Mutex::new(Throttle::default()),
            params: OnceLock::new(),
            setting: Mutex::new(()),
            confirm_window,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn params(&self) -> Params {
        *self.params.get_or_init(Params::for_this_machine)
    }

    /// Hashes and stores a new password (blocking: call from a blocking thread), then
    /// ends every session. `first`: only if none is set yet (first boot). Err: what to tell.
    pub fn set_password(&self, new: &str, first: bool) -> Result<(), String> {
        let _one = self.setting.lock().unwrap_or_else(|e| e.into_inner());
        if first && !matches!(password::load(&self.dir), Ok(None)) {
            return Err("a password is already set: log in".into());
        }
        let params = self.params();
        let started = Instant::now();
        let hash = Hash::new(new, params).ok_or("the password could not be hashed (scrypt parameters refused)")?;
        let took = started.elapsed();
        password::store(&self.dir, &hash).map_err(|e| {
            format!("cannot write {}: {}; check that /etc/oxwrt is writable by group config", password::path(&self.dir).display(), server::describe(&e))
        })?;
        self.sessions().clear();
        crate::log(format_args!(
            "password {} (scrypt N=2^{} r={} p={}: {} KiB, {} ms here); all sessions ended",
            if first { "set" } else { "changed" },
            params.ln,
            params.r,
            params.p,
            (128u64 * u64::from(params.r)) << params.ln >> 10,
            took.as_millis()
        ));
        Ok(())
    }
}

/// At webd's start: a pending change whose window is over (or from an earlier boot) is
/// rolled back now, before webd binds the LAN address; one still in its window keeps
/// its deadline (webd restarted itself on a new LAN address). True when one is left pending.
pub fn rollback_at_start(dir: &std::path::Path) -> bool {
    use oxwrt_config::rollback;
    let Some(p) = rollback::pending(dir) else { return false };
    if !p.expired(&rollback::boot_id(), rollback::uptime()) {
        return true;
    }
    match rollback::revert(dir) {
        Ok(names) => crate::log(format_args!("unconfirmed change rolled back at start: {} restored", names.join(", "))),
        Err(e) => crate::log(format_args!("cannot roll back the unconfirmed change in {}/.rollback: {e}", dir.display())),
    }
    false
}

/// Waits for the pending change's deadline, then rolls it back if nobody kept it; if that
/// moves the LAN address back, webd restarts on it. Call within the runtime.
pub fn watch_rollback(app: Arc<App>) {
    use oxwrt_config::rollback;
    tokio::spawn(async move {
        loop {
            let Some(p) = rollback::pending(&app.dir) else { return };
            let now = rollback::uptime();
            if p.expired(&rollback::boot_id(), now) {
                let lan = |d: &std::path::Path| oxwrt_config::Config::load(d).ok().map(|c| c.network.lan.address);
                let before = lan(&app.dir);
                match rollback::revert(&app.dir) {
                    Ok(names) => {
                        crate::log(format_args!("change not kept within {} s: rolled back ({} restored)", app.confirm_window.as_secs(), names.join(", ")))
                    }
                    Err(e) => crate::log(format_args!("change not kept, but the rollback failed: {e}; fix /etc/oxwrt on the console")),
                }
                if lan(&app.dir) != before {
                    crate::routes::restart_self_later();
                }
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs((p.deadline - now).clamp(1, 5))).await;
        }
    });
}

/// A parsed request, ready for the routes.
pub struct Req {
    pub method: Method,
    pub path: String,
    /// The query string, for GET pages that filter (`/logs?q=...`).
    pub query: String,
    pub headers: HeaderMap,
    pub peer: IpAddr,
    pub form: HashMap<String, String>,
    /// multipart/form-data parts by name (file uploads: the restore form).
    pub files: HashMap<String, Vec<u8>>,
}

impl Req {
    pub fn field(&self, name: &str) -> &str {
        self.form.get(name).map_or("", String::as_str)
    }

    /// The first value of `name` in the query string ("" when absent).
    pub fn query_value(&self, name: &str) -> String {
        form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookie(&self.headers, name)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The parts of a multipart/form-data body (RFC 7578) as (name, bytes); None when it does
/// not parse. Only what browsers send: one boundary, CRLF line ends, a
/// `Content-Disposition: form-data; name="..."` per part. The body is already bounded by
/// [`MAX_BODY`].
pub fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let delim = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut rest = &body[find(body, delim.as_bytes())? + delim.len()..];
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..end]).ok()?;
        let disposition = head.split("\r\n").find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let name = disposition.split(';').find_map(|p| p.trim().strip_prefix("name=\""))?.strip_suffix('"')?;
        rest = &rest[end + 4..];
        let stop = find(rest, next.as_bytes())?;
        parts.push((name.to_owned(), rest[..stop].to_vec()));
        rest = &rest[stop + next.len()..];
    }
    Some(parts)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The security headers every response gets.
pub fn secure(mut r: Resp) -> Resp {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on POST.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r
}

pub fn with_body(code: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn plain(code: StatusCode, text: impl Into<Bytes>) -> Resp {
    with_body(code, "text/plain; charset=utf-8", text)
}

pub fn page(code: StatusCode, m: maud::Markup) -> Resp {
    with_body(code, "text/html; charset=utf-8", pages::render(m))
}

pub fn redirect(to: &'static str) -> Resp {
    let mut r = plain(StatusCode::SEE_OTHER, to);
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

fn set_cookie(r: &mut Resp, name: &str, value: &str, max_age: Option<u32>) {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}")) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether a POST comes from this router's own pages: `Origin` (else `Referer`), when
/// present, must be `http://HOST` or `https://HOST` (HOST: the request's Host). Requests
/// without either (not a browser) rely on the CSRF token alone.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let ours = |url: &str| {
        let Some(host) = host else { return false };
        ["http://", "https://"]
            .iter()
            .any(|s| url.strip_prefix(s).is_some_and(|rest| rest == host || rest.strip_prefix(host).is_some_and(|p| p.starts_with('/'))))
    };
    if let Some(o) = headers.get(header::ORIGIN) {
        return o.to_str().is_ok_and(|o| ours(o) && !o.trim_start_matches("http://").trim_start_matches("https://").contains('/'));
    }
    match headers.get(header::REFERER) {
        Some(r) => r.to_str().is_ok_and(ours),
        None => true,
    }
}

/// The hyper entry point: reads the request (within the limits) and answers.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<hyper::body::Incoming>) -> Result<Resp, Infallible> {
    Ok(secure(answer(app, peer, req).await))
}

async fn answer(app: Arc<App>, peer: SocketAddr, req: Request<hyper::body::Incoming>) -> Resp {
    if let Some(refused) = server::refuse_host(&req) {
        return refused;
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    if server::escapes(&path) {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let method = req.method().clone();
    let mut form = HashMap::new();
    if method == Method::POST {
        let too_big = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).is_some_and(|n| n > MAX_BODY as u64);
        if too_big {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large: at most {MAX_BODY} bytes\n"));
        }
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large: at most {MAX_BODY} bytes\n"))
            }
            Err(_) => return plain(StatusCode::BAD_REQUEST, "bad request: the body could not be read\n"),
        };
        let mut files = HashMap::new();
        let ctype = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ctype.to_ascii_lowercase().starts_with("multipart/form-data") {
            let Some(fields) = multipart(ctype, &bytes) else {
                return plain(StatusCode::BAD_REQUEST, "bad request: the multipart/form-data body does not parse\n");
            };
            for (k, v) in fields {
                if let Ok(text) = std::str::from_utf8(&v) {
                    form.entry(k.clone()).or_insert_with(|| text.to_owned());
                }
                files.entry(k).or_insert(v);
            }
        } else {
            for (k, v) in form_urlencoded::parse(&bytes) {
                form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        let r = Req { method, path, query, headers: parts.headers, peer: peer.ip(), form, files };
        return post(&app, r).await;
    }
    let r = Req { method, path, query, headers: req.into_parts().0.headers, peer: peer.ip(), form, files: HashMap::new() };
    get(&app, &r)
}

fn hostname() -> String {
    crate::server::own_hostname()
}

/// The paths of pages that need a session.
fn is_page(path: &str) -> bool {
    pages::MENU.iter().any(|(p, _)| *p == path)
}

fn method_not_allowed(allow: &'static str) -> Resp {
    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The pre-session token of a request (its `oxwrt_pre` cookie), or a new one to set.
fn pre_token(r: &Req) -> (String, bool) {
    match r.cookie(session::PRE_COOKIE) {
        Some(t) if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) => (t.to_owned(), false),
        _ => (session::token(), true),
    }
}

fn pre_page(r: &Req, code: StatusCode, render: impl FnOnce(&str) -> maud::Markup) -> Resp {
    let (token, new) = pre_token(r);
    let mut resp = page(code, render(&token));
    if new {
        set_cookie(&mut resp, session::PRE_COOKIE, &token, None);
    }
    resp
}

/// The session of a request; `user`: a page or form (counts as use), not a poll.
fn session_of(app: &App, r: &Req, user: bool) -> Option<(String, Session)> {
    let id = r.cookie(session::COOKIE)?;
    let s = app.sessions().get(id, Instant::now(), user)?;
    Some((id.to_owned(), s))
}

fn get(app: &App, r: &Req) -> Resp {
    let path = r.path.as_str();
    let known = matches!(
        path,
        "/static/style.css" | "/static/app.js" | "/api/status" | "/api/log" | "/setup" | "/login" | "/logout" | crate::sqm::API | crate::sqm::SCRIPT_PATH
    ) || is_page(path)
        || crate::routes::DOWNLOADS.contains(&path);
    if !known {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if r.method != Method::GET && r.method != Method::HEAD {
        return method_not_allowed(if matches!(path, "/setup" | "/login") { "GET, HEAD, POST" } else { "GET, HEAD" });
    }
    match path {
        "/static/style.css" => return with_body(StatusCode::OK, "text/css; charset=utf-8", pages::STYLE),
        "/static/app.js" => return with_body(StatusCode::OK, "text/javascript; charset=utf-8", pages::SCRIPT),
        crate::sqm::SCRIPT_PATH => return with_body(StatusCode::OK, "text/javascript; charset=utf-8", crate::sqm::SCRIPT),
        "/logout" => return method_not_allowed("POST"),
        _ => {}
    }
    let stored = password::load(&app.dir);
    let set = match &stored {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(e) => {
            crate::noisy("password file", || e.clone());
            true // a broken file is not "no password": nobody gets in, nothing is reset
        }
    };
    if path == "/api/status" || path == crate::sqm::API {
        if set && session_of(app, r, false).is_none() {
            return with_body(StatusCode::UNAUTHORIZED, "application/json", "{\"error\":\"log in first\"}\n");
        }
        if path == crate::sqm::API {
            return crate::sqm::api();
        }
        return with_body(StatusCode::OK, "application/json", crate::json::render(&crate::status::collect()));
    }
    if path == "/api/log" {
        // The logs page's script follows the ring with it (a poll: the session's idle time
        // goes on). Never without a password: the log names clients and addresses.
        if !set || session_of(app, r, false).is_none() {
            return plain(StatusCode::UNAUTHORIZED, "log in first\n");
        }
        return match crate::logs::text(&r.query_value("q")) {
            Ok(t) => plain(StatusCode::OK, t),
            Err(e) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("The log cannot be read: {e}\n")),
        };
    }
    if !set {
        return match path {
            "/setup" => pre_page(r, StatusCode::OK, |t| pages::setup(&hostname(), t, None)),
            _ => redirect("/setup"),
        };
    }
    let session = session_of(app, r, true);
    match (path, session) {
        ("/setup", _) => redirect("/login"),
        ("/login", Some(_)) => redirect("/"),
        ("/login", None) => match stored {
            Err(e) => pre_page(r, StatusCode::INTERNAL_SERVER_ERROR, |t| pages::login(&hostname(), t, Some(&e))),
            _ => pre_page(r, StatusCode::OK, |t| pages::login(&hostname(), t, None)),
        },
        (_, None) => redirect("/login"),
        (_, Some((_, s))) => crate::routes::page(app, r, &s),
    }
}

fn forbidden(why: &str) -> Resp {
    plain(StatusCode::FORBIDDEN, format!("forbidden: {why}\n"))
}

async fn post(app: &Arc<App>, r: Req) -> Resp {
    let path = r.path.as_str();
    if !(matches!(path, "/setup" | "/login" | "/logout") || crate::routes::is_form(path)) {
        return if is_page(path) || matches!(path, "/api/status" | "/api/log" | "/static/style.css" | "/static/app.js") {
            method_not_allowed("GET, HEAD")
        } else {
            plain(StatusCode::NOT_FOUND, "not found\n")
        };
    }
    if !same_origin(&r.headers) {
        return forbidden("the request comes from another site (Origin/Referer); use the router's own pages");
    }
    let stored = password::load(&app.dir);
    let set = !matches!(stored, Ok(None));
    if matches!(path, "/setup" | "/login") {
        // Double-submit token: the form's field must equal the cookie set with the form.
        let ok = r.cookie(session::PRE_COOKIE).is_some_and(|c| !c.is_empty() && session::same(c.as_bytes(), r.field("csrf").as_bytes()));
        if !ok {
            return forbidden("missing or wrong form token; load the form again and resubmit");
        }
    }
    if path == "/setup" {
        if set {
            return forbidden("a password is already set; log in");
        }
        if let Some(why) = password::weak(r.field("password"), r.field("repeat")) {
            return pre_page(&r, StatusCode::BAD_REQUEST, |t| pages::setup(&hostname(), t, Some(why)));
        }
        let (a, pw) = (app.clone(), r.field("password").to_owned());
        return match tokio::task::spawn_blocking(move || a.set_password(&pw, true)).await {
            Ok(Ok(())) => logged_in(app),
            Ok(Err(e)) => pre_page(&r, StatusCode::INTERNAL_SERVER_ERROR, |t| pages::setup(&hostname(), t, Some(&e))),
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error while hashing\n"),
        };
    }
    if !set {
        return forbidden("no password is set yet: set one at /setup first");
    }
    if path == "/login" {
        return login(app, &r, stored).await;
    }
    let Some((id, s)) = session_of(app, &r, true) else {
        return forbidden("not logged in (or the session ended); log in again");
    };
    if !session::same(s.csrf.as_bytes(), r.field("csrf").as_bytes()) {
        return forbidden("missing or wrong form token; load the page again and resubmit");
    }
    if path == "/logout" {
        app.sessions().remove(&id);
        let mut resp = redirect("/login");
        set_cookie(&mut resp, session::COOKIE, "", Some(0));
        return resp;
    }
    crate::routes::form(app, &r, &s).await
}

fn logged_in(app: &App) -> Resp {
    let id = app.sessions().create(Instant::now());
    let mut resp = redirect("/");
    set_cookie(&mut resp, session::COOKIE, &id, None);
    resp
}

async fn login(app: &Arc<App>, r: &Req, stored: Result<Option<Hash>, String>) -> Resp {
    if let Err(wait) = app.throttle().check(r.peer, Instant::now()) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut resp =
            pre_page(r, StatusCode::TOO_MANY_REQUESTS, |t| pages::login(&hostname(), t, Some(&format!("Too many failed logins: try again in {secs} s."))));
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let hash = match stored {
        Ok(Some(h)) => h,
        Ok(None) => return redirect("/setup"),
        Err(e) => return pre_page(r, StatusCode::INTERNAL_SERVER_ERROR, |t| pages::login(&hostname(), t, Some(&e))),
    };
    let pw = r.field("password").to_owned();
    let ok = pw.len() <= password::MAX_LEN && tokio::task::spawn_blocking(move || hash.verify(&pw)).await.unwrap_or(false);
    if !ok {
        app.throttle().failed(r.peer, Instant::now());
        crate::noisy("login failed", || format!("failed login from {}", r.peer));
        return pre_page(r, StatusCode::FORBIDDEN, |t| pages::login(&hostname(), t, Some("Wrong password.")));
    }
    app.throttle().succeeded(r.peer);
    logged_in(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_must_be_the_host() {
        let host = ("host", "192.168.1.1");
        assert!(same_origin(&headers(&[host, ("origin", "http://192.168.1.1")])));
        assert!(same_origin(&headers(&[host, ("origin", "https://192.168.1.1")])));
        assert!(!same_origin(&headers(&[host, ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[host, ("origin", "http://192.168.1.1.evil.example")])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[("origin", "http://192.168.1.1")])), "no Host");
        assert!(same_origin(&headers(&[host, ("referer", "http://192.168.1.1/system")])));
        assert!(!same_origin(&headers(&[host, ("referer", "http://192.168.1.10/")])));
        assert!(!same_origin(&headers(&[host, ("referer", "http://evil.example/http://192.168.1.1/")])));
        assert!(same_origin(&headers(&[host])), "not a browser: the token decides");
    }

    #[test]
    fn multipart_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"b.tar\"\r\nContent-Type: application/x-tar\r\n\r\n\x00\x01\r\n\x02\r\n--XyZ--\r\n";
        let parts = multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts, vec![("csrf".to_owned(), b"abc".to_vec()), ("archive".to_owned(), b"\x00\x01\r\n\x02".to_vec())]);
        assert_eq!(multipart("multipart/form-data", body), None);
        assert_eq!(multipart("multipart/form-data; boundary=other", body), None);
        assert_eq!(multipart("multipart/form-data; boundary=XyZ", b"--XyZ\r\nno headers end"), None);
    }

    #[test]
    fn cookies() {
        let h = headers(&[("cookie", "a=1; oxwrt_session=abc"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, "oxwrt_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "oxwrt"), None);
    }
}
