//! The SQM page's step of the browser test (xtask/tests/webui.rs): rates changed in the
//! page reach the kernel (the CAKEs sqmd reads back, in `sqm status` on the console), a bad rate is refused
//! next to its field, and the live chart's script fills the page from /api/sqm.

use std::time::Duration;

use serde_json::json;
use xtask::tools::qemu::Guest;

use xtask::tools::webdriver::{Browser, ELEMENT};

/// Polls `sqm status` on the console until it contains every one of `want`.
fn wait_status(g: &mut Guest, want: &[&str]) -> String {
    let mut last = String::new();
    for _ in 0..30 {
        last = g.shell("sqm status");
        if want.iter().all(|w| last.contains(w)) {
            return last;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("`sqm status` did not show {want:?} within 30 s:\n{last}\n--- console ---\n{}", g.tail());
}

fn attribute(b: &Browser, css: &str, name: &str) -> String {
    let e = b.find(css);
    b.cmd("GET", &format!("/element/{e}/attribute/{name}"), None).unwrap().as_str().unwrap_or_default().to_owned()
}

pub(super) fn step(b: &Browser, g: &mut Guest) {
    b.go("/sqm");
    assert_eq!(b.text("h1"), "SQM");
    // The image's sqm.toml is off.
    assert_eq!(attribute(b, "input[name=enabled]", "checked"), "", "shaping is off in the image");
    b.click("input[name=enabled]");
    b.fill("#download_kbit", "8000");
    b.fill("#upload_kbit", "1600");
    b.submit("form[action='/sqm'] button[type=submit]");
    let main = b.text("main");
    assert!(main.contains("Saved"), "{main}");
    b.no_dialog();
    // sqmd applies the replaced file by itself: the kernel's CAKEs at the new rates.
    wait_status(g, &["sqm: enabled on eth0", "eth0: cake 5351: bandwidth 1600 kbit/s", "ifb4eth0: cake 5351: bandwidth 8000 kbit/s"]);
    // Written by webd (uid 102, group config) by a rename in /etc/oxwrt, which keeps the
    // file's mode 0644: sqmd (uid 103) read it, the status above is its proof.
    let file = g.shell("cat /etc/oxwrt/sqm.toml");
    assert!(file.contains("download_kbit = 8000") && file.contains("upload_kbit = 1600"), "{file}");
    // The page again: the kernel's rates, then the script's first poll fills the chart.
    b.go("/sqm");
    assert_eq!(b.text("#down_rate"), "8000 kbit/s");
    assert_eq!(b.text("#up_rate"), "1600 kbit/s");
    let drawn = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(500));
        (!attribute(b, "#chart_down", "points").is_empty() && b.text("#down_delay").ends_with(" ms")).then_some(())
    });
    assert!(drawn.is_some(), "the chart's script drew nothing from /api/sqm");
    b.screenshot("sqm");
    // A negative rate: refused next to its field, the kernel as it was.
    b.fill("#download_kbit", "-5");
    b.submit("form[action='/sqm'] button[type=submit]");
    let e = b
        .cmd("POST", "/element", Some(json!({"using": "css selector", "value": "#download_kbit ~ div.err"})))
        .unwrap_or_else(|e| panic!("no error next to the field: {e}"));
    let msg = b.text_of(e[ELEMENT].as_str().unwrap());
    assert!(msg.contains("download_kbit: -5 is negative"), "{msg}");
    b.no_dialog();
    wait_status(g, &["ifb4eth0: cake 5351: bandwidth 8000 kbit/s"]);
}
