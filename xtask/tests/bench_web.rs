//! `cargo xtask bench web`: the web interface in a real browser against both QEMU boards
//! (issue "The web interface", Benchmarks), written into the `web` section of
//! docs/benchmarks.md. Per board, one boot in the lab (xtask/src/tools/lab.rs) with headless
//! chromium in the laptop's namespace (xtask/src/tools/webdriver.rs):
//!
//! - every page of the menu (read from the page itself, so a new page is measured without
//!   editing this file): the bytes webd serves for the HTML and what they gzip to, the time
//!   to first byte and to the end of the load event from the browser's Navigation Timing
//!   (the median of 5 loads);
//! - the style sheet and script the pages load (bytes, gzip'd);
//! - the login cost: the password hash's parameters and time as webd logs them;
//! - webd's resident memory idle after boot, after one browser used every page, and with
//!   four browsers on the overview (its script polls the status) for 30 s.
//!
//! Emulator numbers (QEMU TCG on the benchmark machine): for comparing builds and boards.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};
use xtask::tools::webdriver::{self, webd_rss, Browser};

const X86: &str = "qemu-x86-64";
const MALTA: &str = "qemu-malta-mipsel";
const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(60);
const PASSWORD: &str = "benchmark password";
const LOADS: usize = 5;

struct Page {
    path: String,
    html: usize,
    gzip: usize,
    ttfb_ms: f64,
    load_ms: f64,
}

struct Row {
    board: &'static str,
    pages: Vec<Page>,
    assets: Vec<(String, usize, usize)>,
    login: String,
    rss_idle: String,
    rss_used: String,
    rss_four: String,
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).unwrap();
    z.finish().unwrap().len()
}

/// The body of `path` as the browser gets it (same origin, the session's cookie).
fn fetch(b: &Browser, path: &str) -> String {
    let script = "const done = arguments[arguments.length - 1]; fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done('ERROR ' + e));";
    let v = b.cmd("POST", "/execute/async", Some(json!({"script": script, "args": [path]}))).unwrap_or_else(|e| panic!("fetch {path}: {e}"));
    let text = v.as_str().unwrap_or_default().to_owned();
    assert!(!text.starts_with("ERROR "), "fetch {path}: {text}");
    text
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn log_in(b: &Browser) {
    b.go("/login");
    b.fill("#password", PASSWORD);
    b.submit("main button[type=submit]");
    assert_eq!(b.text("h1"), "Overview", "logged in");
}

fn measure(board_id: &'static str) -> Row {
    let ctx = Context::from_env(false).unwrap();
    let board = ctx.repo().load_board(board_id).unwrap();
    assert!(oxwrt_testkit::require_all(&webdriver::prerequisites()), "chromium and chromedriver (cargo xtask setup)");
    let mut lab = Lab::new("benchweb", None).expect("the lab's prerequisites (cargo xtask setup)");
    let dir = tempfile::tempdir().unwrap();
    let image = lab::scratch_image(&ctx, &board, dir.path());
    let mut r = lab.router(&ctx, &board, image, BOOT);
    r.laptop_lease(T);
    std::thread::sleep(Duration::from_secs(5));
    let rss_idle = webd_rss(&mut r.guest);
    webdriver::start_driver(&mut r);
    let shots = ctx.root.join("target/bench-web").join(board_id);
    let profile = |n: usize| dir.path().join(format!("chromium{n}")).display().to_string();
    let b = Browser::open(&r.laptop, &profile(0), shots.clone());

    b.go("/");
    assert!(b.url().ends_with("/setup"), "a fresh image asks for a password first: {}", b.url());
    b.fill("#password", PASSWORD);
    b.fill("#repeat", PASSWORD);
    b.submit("button[type=submit]");
    assert_eq!(b.text("h1"), "Overview");
    // The hash's cost as webd logged it (the log ring, on the logs page).
    b.go("/logs");
    let log = b.text("#log");
    let line = log.lines().find(|l| l.contains("password set (scrypt")).unwrap_or_else(|| panic!("no `password set` line in the log:\n{log}"));
    let login = line.split("(scrypt ").nth(1).and_then(|t| t.split(')').next()).unwrap_or(line).to_owned();

    // The menu's pages, as the overview links them.
    let links = b.script("return Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href'));");
    let mut paths: Vec<String> = links.as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_owned).collect();
    paths.dedup();
    assert!(paths.len() >= 5, "the menu: {paths:?}");
    let mut pages = Vec::new();
    let mut assets: Vec<(String, usize, usize)> = Vec::new();
    for path in &paths {
        let (mut ttfb, mut load) = (Vec::new(), Vec::new());
        for _ in 0..LOADS {
            b.go(path);
            // The load event has ended when loadEventEnd is set.
            let t = oxwrt_testkit::netns::wait_for(T, || {
                let v = b.script(
                    "const n = performance.getEntriesByType('navigation')[0]; \
                     return n && n.loadEventEnd > 0 ? [n.responseStart - n.requestStart, n.loadEventEnd - n.startTime] : null;",
                );
                v.as_array().map(|a| (a[0].as_f64().unwrap_or(0.0), a[1].as_f64().unwrap_or(0.0)))
            });
            let (f, l) = t.unwrap_or_else(|| panic!("{path}: no navigation timing"));
            ttfb.push(f);
            load.push(l);
        }
        let html = fetch(&b, path);
        let resources = b.script("return performance.getEntriesByType('resource').map(r => new URL(r.name).pathname);");
        for res in resources.as_array().unwrap().iter().filter_map(Value::as_str) {
            if !assets.iter().any(|(p, ..)| p == res) && res.starts_with("/static/") {
                let body = fetch(&b, res);
                assets.push((res.to_owned(), body.len(), gzip_len(body.as_bytes())));
            }
        }
        b.screenshot(&path.trim_matches('/').replace('/', "-"));
        eprintln!("[{board_id}] {path}: {} B, TTFB {:.0} ms, load {:.0} ms", html.len(), median(ttfb.clone()), median(load.clone()));
        pages.push(Page { path: path.clone(), html: html.len(), gzip: gzip_len(html.as_bytes()), ttfb_ms: median(ttfb), load_ms: median(load) });
    }
    let rss_used = webd_rss(&mut r.guest);

    // Four browsers on the overview, whose script polls the status.
    b.go("/");
    let others: Vec<Browser> = (1..4).map(|n| Browser::open(&r.laptop, &profile(n), shots.clone())).collect();
    for o in &others {
        log_in(o);
    }
    std::thread::sleep(Duration::from_secs(30));
    let rss_four = webd_rss(&mut r.guest);
    for o in &others {
        o.no_dialog();
    }
    eprintln!("[{board_id}] webd RSS: {rss_idle} KiB idle, {rss_used} KiB after the pages, {rss_four} KiB with 4 browsers polling");
    Row { board: board_id, pages, assets, login, rss_idle, rss_used, rss_four }
}

#[test]
#[ignore = "benchmark: cargo xtask bench web"]
fn bench_web() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').next().unwrap_or("?").to_owned();
    let rows: Vec<Row> = [X86, MALTA].into_iter().map(measure).collect();
    let ctx = Context::from_env(false).unwrap();
    let today = String::from_utf8_lossy(&Command::new("date").args(["-u", "+%Y-%m-%d"]).output().unwrap().stdout).trim().to_string();
    let mut body = format!(
        "Measured {today} on {} CPU(s) with `cargo xtask bench web`: per QEMU board (TCG, emulator numbers for comparing builds and \
         boards), one boot in the lab with headless chromium on the laptop (xtask/tests/bench_web.rs). Every page of the menu: the HTML \
         as webd serves it and gzip -9 of it (webd itself does not compress), the time to first byte and to the end of the load event \
         from the browser's Navigation Timing, median of {LOADS} loads. The host's load average when the run started: {load}.\n\n\
         | board | page | HTML | gzip'd | time to first byte | page loaded |\n|---|---|---|---|---|---|\n",
        ctx.jobs
    );
    for r in &rows {
        for p in &r.pages {
            body += &format!("| {} | `{}` | {} B | {} B | {:.0} ms | {:.0} ms |\n", r.board, p.path, p.html, p.gzip, p.ttfb_ms, p.load_ms);
        }
    }
    body += "\nWhat every page loads besides its HTML, and the largest page with them:\n\n| board | file | bytes | gzip'd |\n|---|---|---|---|\n";
    for r in &rows {
        for (path, len, gz) in &r.assets {
            body += &format!("| {} | `{path}` | {len} B | {gz} B |\n", r.board);
        }
        if let Some(p) = r.pages.iter().max_by_key(|p| p.gzip) {
            let (len, gz) = r.assets.iter().fold((p.html, p.gzip), |(a, b), (_, l, g)| (a + l, b + g));
            body += &format!("| {} | largest page `{}` with them | {len} B | {gz} B |\n", r.board, p.path);
        }
    }
    body += "\nLogin cost (the first password's hash, tuned on the board: docs/web-ui.md) and webd's resident memory (the guest's \
             `ps`): idle after boot, after one browser loaded every page, with four browsers on the overview (its script polling) for 30 s.\n\n\
             | board | login cost (webd's log) | webd RSS idle | after the pages | 4 browsers polling |\n|---|---|---|---|---|\n";
    for r in &rows {
        body += &format!("| {} | {} | {} KiB | {} KiB | {} KiB |\n", r.board, r.login, r.rss_idle, r.rss_used, r.rss_four);
    }
    let path = ctx.root.join("docs/benchmarks.md");
    xtask::cmd::bench::write_section(&path, "web", &body).unwrap();
    println!("{body}");
}
