//! The SQM page: sqm.toml's main settings (shaping on or off, the rates, the line's
//! overhead, the priority tins, rate adaptation) and a live chart of throughput and latency
//! per direction from sqmd's status.
//!
//! The form goes through `oxwrt_config::sqm` only: the fields are parsed into the file's
//! own type (the keys the form does not show stay as they are in the file), `Sqm::save`
//! validates with the rules sqmd applies and writes the file atomically, and each problem
//! is shown next to the field of its key. sqmd watches /etc/oxwrt and applies a replaced
//! sqm.toml by itself (packages/sqmd/src/daemon.rs): no reload request is needed.
//!
//! The live values: [`API`] answers sqmd's status JSON, read from its socket
//! (/run/sqmd/status.sock, mode 0666) as it is; [`SCRIPT`] (an external file: the CSP
//! allows no inline script) polls it every 2 s and draws the last two minutes into the
//! page's SVG with `setAttribute`/`textContent` only. Without JavaScript the page shows
//! the state of when it was loaded, and the form works the same.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use maud::{html, Markup};
use oxwrt_config::sqm::{Diffserv, Overhead, Sqm, OVERHEAD_PRESETS};

use crate::app::Req;
use crate::network::Errors;
use crate::pages::{csrf_field, layout};

/// The page and its form.
pub const PATH: &str = "/sqm";
/// sqmd's status as JSON (GET; a session, not refreshed by the polling).
pub const API: &str = "/api/sqm";
/// The chart's script.
pub const SCRIPT_PATH: &str = "/static/sqm.js";
/// sqmd's status socket.
pub const SOCKET: &str = "/run/sqmd/status.sock";
/// The most of sqmd's answer read (its JSON is a few KiB).
const MAX_STATUS: u64 = 64 * 1024;

/// sqmd's status JSON, from its socket; an error names the socket and what to do.
pub fn status_json(socket: &Path) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("sqmd's status socket {}: {e}; is sqmd running (`service` on the console)?", socket.display());
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(2))).map_err(fail)?;
    s.set_write_timeout(Some(Duration::from_secs(2))).map_err(fail)?;
    s.write_all(b"json\n").map_err(fail)?;
    let mut out = String::new();
    s.take(MAX_STATUS).read_to_string(&mut out).map_err(fail)?;
    Ok(out)
}

/// The form's field of a key of sqm.toml.
fn field_of(key: &str) -> &'static str {
    match key {
        "enabled" => "enabled",
        "download_kbit" => "download_kbit",
        "upload_kbit" => "upload_kbit",
        "overhead" | "mpu" | "framing" => "overhead",
        "diffserv" => "diffserv",
        k if k.starts_with("autorate") => "autorate",
        _ => "",
    }
}

fn add(e: &mut Errors, field: &str, msg: String) {
    e.entry(field.to_owned()).or_default().push(msg);
}

/// The form applied to `s` (only the keys it shows); parse errors by field.
fn apply(s: &mut Sqm, r: &Req) -> Result<(), Errors> {
    let mut e = Errors::new();
    let mut kbit = |field: &str, label: &str| -> i64 {
        let t = r.field(field).trim();
        t.parse::<i64>().unwrap_or_else(|_| {
            add(&mut e, field, format!("{label}: `{t}` is not a whole number of kbit/s (e.g. 9500 for 9.5 Mbit/s; 0: not shaped)"));
            0
        })
    };
    let down = kbit("download_kbit", "download");
    let up = kbit("upload_kbit", "upload");
    let overhead = r.field("overhead");
    let preset = OVERHEAD_PRESETS.iter().any(|(n, ..)| *n == overhead);
    let custom_kept = overhead.is_empty() && matches!(s.overhead, Overhead::Bytes(_));
    if !preset && !custom_kept {
        add(&mut e, "overhead", format!("overhead: `{overhead}` is not one of the presets"));
    }
    let diffserv = match r.field("diffserv") {
        "besteffort" => Some(Diffserv::Besteffort),
        "diffserv3" => Some(Diffserv::Diffserv3),
        "diffserv4" => Some(Diffserv::Diffserv4),
        "diffserv8" => Some(Diffserv::Diffserv8),
        d => {
            add(&mut e, "diffserv", format!("priorities: `{d}` is not besteffort, diffserv3, diffserv4 or diffserv8"));
            None
        }
    };
    if !e.is_empty() {
        return Err(e);
    }
    s.enabled = r.field("enabled") == "on";
    s.download_kbit = down;
    s.upload_kbit = up;
    // A custom overhead in bytes (set in the file) is kept unless a preset was chosen.
    if preset {
        s.overhead = Overhead::Preset(overhead.to_owned());
    }
    if let Some(d) = diffserv {
        s.diffserv = d;
    }
    s.autorate.enabled = r.field("autorate") == "on";
    Ok(())
}

/// The form posted to [`PATH`]: the file as saved now (or as it was), and the problems by
/// field when nothing was saved.
pub fn submit(dir: &Path, r: &Req) -> (Sqm, Result<(), Errors>) {
    let mut s = match Sqm::load(dir) {
        Ok(s) => s,
        Err(e) => {
            let mut errors = Errors::new();
            add(&mut errors, "", format!("The saved sqm.toml cannot be used ({e}); fix it on the console first."));
            return (Sqm::default(), Err(errors));
        }
    };
    let before = s.clone();
    if let Err(e) = apply(&mut s, r) {
        return (before, Err(e));
    }
    match s.save(dir) {
        Ok(()) => (s, Ok(())),
        Err(oxwrt_config::Error::Invalid(problems)) => {
            let mut errors = Errors::new();
            for p in problems.iter() {
                add(&mut errors, field_of(&p.key), if p.key.is_empty() { p.message.clone() } else { format!("{}: {}", p.key, p.message) });
            }
            (before, Err(errors))
        }
        Err(e) => {
            let mut errors = Errors::new();
            add(&mut errors, "", format!("Not saved: {e}"));
            (before, Err(errors))
        }
    }
}

fn errs(errors: &Errors, field: &str) -> Markup {
    html! { @if let Some(list) = errors.get(field) { @for e in list { div.err { (e) } } } }
}

/// A direction's numbers from sqmd's status: (kernel's CAKE rate, achieved), kbit/s.
fn direction(status: Option<&serde_json::Value>, dir: &str) -> (String, String) {
    let d = status.map(|s| &s[dir]);
    let rate = d.and_then(|d| d["cake"]["rate_kbit"].as_u64()).map_or("not shaped".to_owned(), |k| format!("{k} kbit/s"));
    let got = d.and_then(|d| d["achieved_kbit"].as_u64()).map_or("-".to_owned(), |k| format!("{k} kbit/s"));
    (rate, got)
}

/// The page. `input`: a refused form to show again; `notice`: a line on top (saved).
pub fn page(hostname: &str, csrf: &str, s: &Sqm, input: Option<&Req>, errors: &Errors, notice: Option<&str>) -> Markup {
    let raw = status_json(Path::new(SOCKET));
    let status: Option<serde_json::Value> = raw.as_ref().ok().and_then(|t| serde_json::from_str(t).ok());
    let v = |field: &str, current: String| input.map_or(current, |r| r.field(field).to_owned());
    let checked = |field: &str, current: bool| input.map_or(current, |r| r.field(field) == "on");
    let overhead = v(
        "overhead",
        match &s.overhead {
            Overhead::Preset(p) => p.clone(),
            Overhead::Bytes(_) => String::new(),
        },
    );
    let diffserv = v("diffserv", format!("{:?}", s.diffserv).to_lowercase());
    let (up_rate, up_got) = direction(status.as_ref(), "upload");
    let (down_rate, down_got) = direction(status.as_ref(), "download");
    layout(
        "SQM",
        hostname,
        Some(csrf),
        html! {
            @if let Some(t) = notice { p.ok { (t) } }
            (errs(errors, ""))
            p { "Shapes the internet connection a little below its speed, so that the queue forms in the router, where CAKE keeps it short: \
                 latency stays low while the line is busy (docs/sqm.md). Set the rates to 95 % of a measured speed test." }
            h2 { "Now" }
            @match &raw {
                Err(e) => p.err #sqm_error { (e) },
                Ok(_) => {
                    table #sqm_now {
                        tr { th {} th { "shaped (kernel)" } th { "achieved" } th { "queue delay" } }
                        tr { td { "download" } td #down_rate { (down_rate) } td #down_got { (down_got) } td #down_delay { "-" } }
                        tr { td { "upload" } td #up_rate { (up_rate) } td #up_got { (up_got) } td #up_delay { "-" } }
                    }
                }
            }
            div.box {
                p { "Last two minutes (updated every 2 s while this page is open): throughput in % of the shaped rate, and CAKE's queue delay (0-50 ms). "
                    span.down { "download" } ", " span.ok { "upload" } "; dashed: delay." }
                svg #sqm_chart viewBox="0 0 600 200" width="100%" role="img" aria-label="throughput and delay per direction" {
                    rect x="0" y="0" width="600" height="200" fill="#fafafa" stroke="#ccc" {}
                    polyline #chart_down fill="none" stroke="#a00" stroke-width="2" points="" {}
                    polyline #chart_up fill="none" stroke="#070" stroke-width="2" points="" {}
                    polyline #chart_down_delay fill="none" stroke="#a00" stroke-dasharray="4 3" points="" {}
                    polyline #chart_up_delay fill="none" stroke="#070" stroke-dasharray="4 3" points="" {}
                }
            }
            h2 { "Settings" }
            form.box method="post" action=(PATH) {
                (csrf_field(csrf))
                label { input type="checkbox" name="enabled" checked[checked("enabled", s.enabled)]; " Shape the internet connection" }
                (errs(errors, "enabled"))
                label for="download_kbit" { "Download, kbit/s (0: not shaped)" }
                input #download_kbit name="download_kbit" inputmode="numeric" value=(v("download_kbit", s.download_kbit.to_string()));
                (errs(errors, "download_kbit"))
                label for="upload_kbit" { "Upload, kbit/s (0: not shaped)" }
                input #upload_kbit name="upload_kbit" inputmode="numeric" value=(v("upload_kbit", s.upload_kbit.to_string()));
                (errs(errors, "upload_kbit"))
                label for="overhead" { "Line type (bytes each packet costs on the wire)" }
                select #overhead name="overhead" {
                    @if overhead.is_empty() { option value="" selected { "custom (sqm.toml): kept" } }
                    @for (name, bytes, ..) in OVERHEAD_PRESETS {
                        option value=(name) selected[overhead == *name] { (name) " (" (bytes) " bytes)" }
                    }
                }
                (errs(errors, "overhead"))
                label for="diffserv" { "Priorities (CAKE's tins by DSCP)" }
                select #diffserv name="diffserv" {
                    @for d in ["besteffort", "diffserv3", "diffserv4", "diffserv8"] { option value=(d) selected[diffserv == d] { (d) } }
                }
                (errs(errors, "diffserv"))
                label { input type="checkbox" name="autorate" checked[checked("autorate", s.autorate.enabled)]; " Adapt the rates to a line whose speed varies (LTE, cable; the rates above are the usual ones)" }
                (errs(errors, "autorate"))
                br;
                button type="submit" { "Save and apply" }
            }
            script src=(SCRIPT_PATH) defer {}
        },
    )
}

/// /static/sqm.js: polls [`API`] every 2 s, keeps 60 points, fills the table and the
/// chart (textContent and setAttribute only: sqmd's data is never parsed as markup).
pub const SCRIPT: &str = "(function(){var c=document.getElementById('sqm_chart');if(!c)return;var h=[];\
function set(i,t){var n=document.getElementById(i);if(n)n.textContent=t}\
function dl(d){var m=0;((d.cake||{}).tins||[]).forEach(function(t){if(t.avg_delay_us>m)m=t.avg_delay_us});return m/1000}\
function pts(k,max){return h.map(function(p,i){var v=Math.min(p[k]/max,1);return (i*600/59).toFixed(1)+','+(198-v*196).toFixed(1)}).join(' ')}\
function pct(d){var r=d.cake?d.cake.rate_kbit:0;return r?100*d.achieved_kbit/r:0}\
function tick(){fetch('/api/sqm',{credentials:'same-origin'}).then(function(r){if(!r.ok)throw 0;return r.json()}).then(function(s){\
['download','upload'].forEach(function(n){var d=s[n],p=n=='download'?'down':'up';\
set(p+'_rate',d.cake?d.cake.rate_kbit+' kbit/s':'not shaped');set(p+'_got',d.achieved_kbit+' kbit/s');set(p+'_delay',dl(d).toFixed(1)+' ms')});\
h.push({d:pct(s.download),u:pct(s.upload),dd:dl(s.download),ud:dl(s.upload)});if(h.length>60)h.shift();\
[['chart_down','d',100],['chart_up','u',100],['chart_down_delay','dd',50],['chart_up_delay','ud',50]].forEach(function(x){\
document.getElementById(x[0]).setAttribute('points',pts(x[1],x[2]))})}).catch(function(){})}\
tick();setInterval(tick,2000)})();";

fn hostname() -> String {
    crate::server::own_hostname()
}

/// GET [`PATH`].
pub fn get(app: &crate::app::App, s: &crate::session::Session) -> crate::app::Resp {
    let (sqm, errors) = match Sqm::load(&app.dir) {
        Ok(c) => (c, Errors::new()),
        Err(e) => {
            let mut errors = Errors::new();
            add(&mut errors, "", format!("The saved sqm.toml cannot be used ({e}); the defaults are shown. Fix it on the console."));
            (Sqm::default(), errors)
        }
    };
    crate::app::page(hyper::StatusCode::OK, page(&hostname(), &s.csrf, &sqm, None, &errors, None))
}

/// POST [`PATH`]: saved (sqmd applies it), or the form again with the problems.
pub fn post(app: &crate::app::App, r: &Req, s: &crate::session::Session) -> crate::app::Resp {
    match submit(&app.dir, r) {
        (sqm, Ok(())) => {
            let notice = "Saved: sqmd applies it within a second (the table above shows what the kernel has after a reload).";
            crate::app::page(hyper::StatusCode::OK, page(&hostname(), &s.csrf, &sqm, None, &Errors::new(), Some(notice)))
        }
        (sqm, Err(errors)) => crate::app::page(hyper::StatusCode::BAD_REQUEST, page(&hostname(), &s.csrf, &sqm, Some(r), &errors, None)),
    }
}

/// GET [`API`]: sqmd's status JSON as sqmd wrote it, or 503 with the reason.
pub fn api() -> crate::app::Resp {
    match status_json(Path::new(SOCKET)) {
        Ok(json) => crate::app::with_body(hyper::StatusCode::OK, "application/json", json),
        Err(e) => crate::app::with_body(hyper::StatusCode::SERVICE_UNAVAILABLE, "application/json", format!("{{\"error\":{}}}\n", serde_json::Value::from(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> Req {
        Req {
            method: hyper::Method::POST,
            path: PATH.into(),
            query: String::new(),
            headers: Default::default(),
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
            form: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            files: Default::default(),
        }
    }

    #[test]
    fn the_form_saves_through_the_config_crate_and_refuses_next_to_the_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sqm.toml"), "rtt = \"metro\"\n[autorate]\nreflectors = [\"192.0.2.1\"]\n").unwrap();
        let ok = [("enabled", "on"), ("download_kbit", "9500"), ("upload_kbit", "1900"), ("overhead", "docsis"), ("diffserv", "diffserv4")];
        let (s, r) = submit(dir.path(), &form(&ok));
        assert!(r.is_ok(), "{r:?}");
        let saved = Sqm::load(dir.path()).unwrap();
        assert_eq!(saved, s);
        assert_eq!((saved.enabled, saved.download_kbit, saved.upload_kbit, saved.diffserv), (true, 9500, 1900, Diffserv::Diffserv4));
        assert_eq!(saved.overhead, Overhead::Preset("docsis".into()));
        // The keys the form does not show are kept.
        assert_eq!(saved.rtt, oxwrt_config::sqm::Rtt::Preset("metro".into()));
        assert_eq!(saved.autorate.reflectors, vec![std::net::Ipv4Addr::new(192, 0, 2, 1)]);
        assert!(!saved.autorate.enabled);

        // The config crate's rule, next to its field; the file as it was.
        let bad = [("download_kbit", "-5"), ("upload_kbit", "1900"), ("overhead", "docsis"), ("diffserv", "diffserv4")];
        let (_, r) = submit(dir.path(), &form(&bad));
        let e = r.unwrap_err();
        assert!(e["download_kbit"][0].starts_with("download_kbit: -5 is negative"), "{e:?}");
        // Not a number, an unknown preset: the form's own parse, by field.
        let bad = [("download_kbit", "9.5M"), ("upload_kbit", "1900"), ("overhead", "adsl"), ("diffserv", "x")];
        let (_, r) = submit(dir.path(), &form(&bad));
        let e = r.unwrap_err();
        assert_eq!((e.contains_key("download_kbit"), e.contains_key("overhead"), e.contains_key("diffserv")), (true, true, true), "{e:?}");
        assert_eq!(Sqm::load(dir.path()).unwrap(), s);

        // Escaped: a status error with markup is text.
        let html = page("r<b>", "t", &s, Some(&form(&[("download_kbit", "<script>")])), &e, None).into_string();
        assert!(html.contains("value=\"&lt;script&gt;\"") && html.contains("r&lt;b&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn the_api_reads_sqmds_socket_and_names_it_when_it_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("status.sock");
        let e = status_json(&sock).unwrap_err();
        assert!(e.contains("status.sock") && e.contains("sqmd running"), "{e}");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 5];
            c.read_exact(&mut req).unwrap();
            assert_eq!(&req, b"json\n");
            c.write_all(b"{\"enabled\":true}").unwrap();
        });
        assert_eq!(status_json(&sock).unwrap(), "{\"enabled\":true}");
        t.join().unwrap();
    }
}
