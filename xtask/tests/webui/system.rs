//! Backup, factory reset and restore in the browser (issue 15): the backup downloaded by
//! chromium, the factory reset typed and confirmed on the system page (the router reboots
//! with the image's defaults: the first-password page again), the archive restored through
//! the file input, the settings back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use xtask::tools::webdriver::Browser;

/// Clicks the backup link; the archive chromium saved in `downloads` (a tar holding
/// network.toml and firewall.toml).
pub fn download_backup(b: &Browser, downloads: &Path) -> PathBuf {
    b.allow_downloads(downloads);
    b.go("/system");
    b.click("a[href='/system/backup']");
    let saved = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(300));
        let done = std::fs::read_dir(downloads).ok()?.filter_map(Result::ok).map(|e| e.path());
        done.into_iter().find(|p| p.extension().is_some_and(|e| e == "tar"))
    });
    let archive = saved.unwrap_or_else(|| panic!("no backup archive in {} after clicking the backup link", downloads.display()));
    let bytes = std::fs::read(&archive).unwrap();
    let names: Vec<String> = tar::Archive::new(&bytes[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert!(names.contains(&"network.toml".to_owned()) && names.contains(&"firewall.toml".to_owned()), "the backup holds {names:?}");
    archive
}

/// Types RESET and confirms on the system page (open); the page says the router reboots.
pub fn factory_reset(b: &Browser) {
    b.fill("#confirm_reset", "RESET");
    b.submit("form[action='/system/factory-reset'] button[type=submit]");
    let main = b.text("main");
    assert!(main.contains("rebooting with its defaults"), "{main}");
}

/// Restores `archive` through the system page's file input.
pub fn restore(b: &Browser, archive: &Path) {
    b.go("/system");
    let input = b.find("#archive");
    b.cmd("POST", &format!("/element/{input}/value"), Some(json!({"text": archive.display().to_string()})))
        .unwrap_or_else(|e| panic!("choose {}: {e}", archive.display()));
    b.submit("form[action='/system/restore'] button[type=submit]");
    let done = b.text("form[action='/system/restore'] .ok");
    assert!(done.starts_with("Restored ") && done.contains("network.toml"), "{done}");
}

/// The time zone chosen on the system page: the page's local time and the console's
/// `date` show Berlin's (CET or CEST, whichever is in effect now).
pub fn time_zone(b: &Browser, guest: &mut xtask::tools::qemu::Guest) {
    b.go("/system");
    b.click("#zone option[value='Europe/Berlin']");
    b.submit("form[action='/system/timezone'] button[type=submit]");
    let saved = b.text("form[action='/system/timezone'] .ok");
    assert_eq!(saved, "Saved: the time zone is Europe/Berlin.");
    let local = b.text("#localtime");
    let berlin = |t: &str| t.contains(" CET 20") || t.contains(" CEST 20");
    assert!(berlin(&local), "the page's local time: {local}");
    let date = guest.shell("date");
    assert!(berlin(&date), "the console's date: {date}");
}
