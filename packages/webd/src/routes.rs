//! The logged-in pages and their forms. [`crate::app`] has already checked the Host, the
//! session and, for forms, the Origin and the CSRF token; these only do the work.
//!
//! A new page: a `GET` arm in [`page`], its menu entry in [`crate::pages::MENU`]; a new
//! form: its path in [`FORMS`] and an arm in [`form`].

use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use maud::html;

use crate::app::{page as html_page, redirect, App, Req, Resp};
use crate::pages::{self, layout};
use crate::password;
use crate::session::Session;

/// The form paths (POST) besides /setup, /login and /logout.
pub const FORMS: &[&str] = &["/system/hostname", "/system/timezone", "/system/password", "/system/reboot", "/system/restore", "/system/factory-reset"];

/// GET paths besides the menu's pages (downloads).
pub const DOWNLOADS: &[&str] = &["/system/backup"];

pub fn is_form(path: &str) -> bool {
    FORMS.contains(&path) || crate::network::FORMS.contains(&path) || crate::vpn::FORMS.contains(&path) || path == crate::sqm::PATH
}

fn hostname() -> String {
    crate::server::own_hostname()
}

/// GET of a logged-in page (its path is one of [`pages::MENU`]).
pub fn page(app: &App, r: &Req, s: &Session) -> Resp {
    match r.path.as_str() {
        "/" => {
            let st = crate::status::collect();
            let leases = crate::clients::leases(crate::clients::LEASES_FILE).len();
            html_page(StatusCode::OK, pages::overview(&st, &s.csrf, leases))
        }
        "/clients" => html_page(StatusCode::OK, crate::clients::page(&hostname(), &s.csrf)),
        "/network" => {
            let (c, errors) = match oxwrt_config::Config::load(&app.dir) {
                Ok(c) => (c, Default::default()),
                Err(e) => {
                    let mut errors = crate::network::Errors::new();
                    errors.insert(String::new(), vec![format!("The saved configuration cannot be used ({e}); the defaults are shown. Fix it on the console.")]);
                    (oxwrt_config::Config::default(), errors)
                }
            };
            html_page(StatusCode::OK, crate::network::page(&hostname(), &s.csrf, &c, None, &errors, None, pending_left(app)))
        }
        "/sqm" => crate::sqm::get(app, s),
        "/system" => html_page(StatusCode::OK, system(app, &s.csrf, "", None)),
        "/system/backup" => match crate::system::backup(&app.dir) {
            Ok(tar) => {
                let mut resp = crate::app::with_body(StatusCode::OK, "application/x-tar", tar);
                let name = format!("attachment; filename=\"{}-config.tar\"", hostname().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"));
                if let Ok(v) = hyper::header::HeaderValue::from_str(&name) {
                    resp.headers_mut().insert(hyper::header::CONTENT_DISPOSITION, v);
                }
                resp
            }
            Err(e) => html_page(StatusCode::INTERNAL_SERVER_ERROR, system(app, &s.csrf, &r.path, Some((true, &e)))),
        },
        "/logs" => html_page(StatusCode::OK, crate::logs::page(&hostname(), &s.csrf, &r.query_value("q"))),
        "/vpn" => html_page(StatusCode::OK, crate::vpn::page(&hostname(), &s.csrf, std::path::Path::new(crate::vpn::RUN_DIR), &Default::default())),
        _ => crate::app::plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The hostname saved for the next boot (/etc/oxwrt/hostname), if any.
fn saved_hostname(app: &App) -> Option<String> {
    std::fs::read_to_string(app.dir.join(oxwrt_config::HOSTNAME_FILE)).ok().map(|h| h.trim().to_owned()).filter(|h| !h.is_empty())
}

/// The system page: hostname, password, reboot, backup and restore. `msg`: (is it an error, text)
/// after the form (or download) at path `at`, shown in that form's box.
fn system(app: &App, csrf: &str, at: &str, msg: Option<(bool, &str)>) -> maud::Markup {
    let note = |form: &str| match msg {
        Some((err, text)) if form == at => html! { div class=(if err { "err" } else { "ok" }) { (text) } },
        _ => html! {},
    };
    layout(
        "System",
        &hostname(),
        Some(csrf),
        html! {
            h2 { "Hostname" }
            form.box method="post" action="/system/hostname" {
                (pages::csrf_field(csrf))
                label for="hostname" { "Name of the router (letters, digits and '-'; takes effect at the next reboot)" }
                input #hostname name="hostname" value=(saved_hostname(app).unwrap_or_else(hostname)) required maxlength="63";
                (note("/system/hostname"))
                br;
                button type="submit" { "Save" }
            }
            h2 { "Time zone" }
            (time_zone(app, csrf, note("/system/timezone")))
            h2 { "Password" }
            form.box method="post" action="/system/password" {
                (pages::csrf_field(csrf))
                label for="current" { "Current password" }
                input #current type="password" name="current" autocomplete="current-password" required;
                label for="password" { "New password (at least 8 characters)" }
                input #password type="password" name="password" autocomplete="new-password" required minlength="8";
                label for="repeat" { "The same again" }
                input #repeat type="password" name="repeat" autocomplete="new-password" required minlength="8";
                (note("/system/password"))
                br;
                button type="submit" { "Change password" }
                p { "Changing it logs out every session, this one too." }
            }
            h2 { "Backup and restore" }
            div.box {
                p { a href="/system/backup" download { "Download the configuration" } " (network.toml and firewall.toml as a tar archive; not the password)." }
                (note("/system/backup"))
                form method="post" action="/system/restore" enctype="multipart/form-data" {
                    (pages::csrf_field(csrf))
                    label for="archive" { "Restore from a backup (checked completely before anything is replaced)" }
                    input #archive type="file" name="archive" accept=".tar,application/x-tar" required;
                    (note("/system/restore"))
                    br;
                    button type="submit" { "Restore" }
                }
            }
            h2 { "Reboot" }
            form.box method="post" action="/system/reboot" {
                (pages::csrf_field(csrf))
                label { input type="checkbox" name="confirm" value="yes" required; " Yes, reboot the router now" }
                (note("/system/reboot"))
                button type="submit" { "Reboot" }
            }
            h2 { "Factory reset" }
            form.box method="post" action="/system/factory-reset" {
                (pages::csrf_field(csrf))
                p { "Erases every change made to this router (settings, password, leases) and reboots with the image's defaults; the web UI then asks for a new password." }
                label for="confirm_reset" { "Type RESET to confirm" }
                input #confirm_reset name="confirm" required pattern="RESET" autocomplete="off";
                (note("/system/factory-reset"))
                br;
                button type="submit" { "Factory reset" }
            }
        },
    )
}

/// The time zone form: the common zones of [`oxwrt_config::time::ZONES`], or any POSIX TZ
/// string; the local time now.
fn time_zone(app: &App, csrf: &str, note: maud::Markup) -> maud::Markup {
    let (t, problem) = match oxwrt_config::Time::load(&app.dir) {
        Ok(t) => (t, None),
        Err(e) => (oxwrt_config::Time::default(), Some(e.to_string())),
    };
    let known = oxwrt_config::time::ZONES.iter().any(|(n, tz)| *n == t.zonename && *tz == t.timezone);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    html! {
        form.box method="post" action="/system/timezone" {
            (pages::csrf_field(csrf))
            p { "Local time now: " span #localtime { (oxwrt_log::format_local(now, &t.tz())) } }
            @if let Some(p) = problem { div.err { (p) } }
            label for="zone" { "Zone" }
            select #zone name="zone" {
                @for (name, _) in oxwrt_config::time::ZONES {
                    option value=(name) selected[known && *name == t.zonename] { (name) }
                }
                option value="custom" selected[!known] { "Other: the POSIX TZ string below" }
            }
            label for="tz" { "POSIX TZ string (for Other; e.g. CET-1CEST,M3.5.0,M10.5.0/3)" }
            input #tz name="tz" value=(t.timezone) maxlength="64";
            (note)
            br;
            button type="submit" { "Save" }
        }
    }
}

/// POST of a form in [`FORMS`].
pub async fn form(app: &Arc<App>, r: &Req, s: &Session) -> Resp {
    match r.path.as_str() {
        "/system/password" => change_password(app, r, s).await,
        "/system/hostname" => {
            let name = r.field("hostname").trim();
            if let Err(e) = oxwrt_config::check_hostname(name) {
                return html_page(StatusCode::BAD_REQUEST, system(app, &s.csrf, &r.path, Some((true, &format!("Not saved: {e}.")))));
            }
            let path = app.dir.join(oxwrt_config::HOSTNAME_FILE);
            match oxwrt_config::write_atomic(&path, format!("{name}\n").as_bytes()) {
                Ok(()) => html_page(
                    StatusCode::OK,
                    system(app, &s.csrf, &r.path, Some((false, &format!("Saved: the router is called {name} from the next reboot.")))),
                ),
                Err(e) => html_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    system(app, &s.csrf, &r.path, Some((true, &format!("cannot write {}: {}", path.display(), crate::server::describe(&e))))),
                ),
            }
        }
        "/system/timezone" => {
            let mut t = match oxwrt_config::Time::load(&app.dir) {
                Ok(t) => t,
                Err(e) => {
                    return html_page(
                        StatusCode::CONFLICT,
                        system(app, &s.csrf, &r.path, Some((true, &format!("Not saved: {e}; fix the file on the console first.")))),
                    )
                }
            };
            let zone = r.field("zone");
            match oxwrt_config::time::ZONES.iter().find(|(n, _)| *n == zone) {
                Some((name, tz)) => (t.zonename, t.timezone) = ((*name).to_owned(), (*tz).to_owned()),
                None => (t.zonename, t.timezone) = ("custom".to_owned(), r.field("tz").trim().to_owned()),
            }
            match t.save(&app.dir) {
                Ok(()) => {
                    crate::log(format_args!("time zone set in the web UI: {} ({})", t.zonename, t.timezone));
                    html_page(StatusCode::OK, system(app, &s.csrf, &r.path, Some((false, &format!("Saved: the time zone is {}.", t.zonename)))))
                }
                Err(e) => html_page(StatusCode::BAD_REQUEST, system(app, &s.csrf, &r.path, Some((true, &format!("Not saved: {e}"))))),
            }
        }
        "/system/restore" => {
            let Some(archive) = r.files.get("archive").filter(|a| !a.is_empty()) else {
                return html_page(StatusCode::BAD_REQUEST, system(app, &s.csrf, &r.path, Some((true, "Choose a backup file to restore."))));
            };
            if oxwrt_config::rollback::pending(&app.dir).is_some() {
                let msg = "A network change is waiting for its confirmation: keep it or let it roll back (network page), then restore.";
                return html_page(StatusCode::CONFLICT, system(app, &s.csrf, &r.path, Some((true, msg))));
            }
            let lan = |d: &std::path::Path| oxwrt_config::Config::load(d).ok().map(|c| c.network.lan.address);
            let before = lan(&app.dir);
            match crate::system::restore(&app.dir, archive) {
                Ok(names) => {
                    crate::log(format_args!("configuration restored from a backup in the web UI: {}", names.join(", ")));
                    if lan(&app.dir) != before {
                        restart_self_later();
                    }
                    html_page(StatusCode::OK, system(app, &s.csrf, &r.path, Some((false, &format!("Restored {}; netd applies it now.", names.join(" and "))))))
                }
                Err(e) => html_page(StatusCode::BAD_REQUEST, system(app, &s.csrf, &r.path, Some((true, &e)))),
            }
        }
        "/system/factory-reset" => {
            if r.field("confirm") != "RESET" {
                return html_page(StatusCode::BAD_REQUEST, system(app, &s.csrf, &r.path, Some((true, "Type RESET (capitals) to confirm the factory reset."))));
            }
            match crate::system::factory_reset(&app.dir) {
                Ok(()) => {
                    crate::log(format_args!("factory reset asked for in the web UI: rebooting"));
                    html_page(
                        StatusCode::OK,
                        pages::message(
                            "Factory reset",
                            &hostname(),
                            None,
                            "The router is rebooting with its defaults. Then open it at its default address and set a new password.",
                            None,
                        ),
                    )
                }
                Err(e) => html_page(StatusCode::INTERNAL_SERVER_ERROR, system(app, &s.csrf, &r.path, Some((true, &format!("No factory reset: {e}"))))),
            }
        }
        "/system/reboot" => {
            if r.field("confirm") != "yes" {
                return html_page(StatusCode::BAD_REQUEST, system(app, &s.csrf, &r.path, Some((true, "Tick the box to confirm the reboot."))));
            }
            match crate::system::init_reachable() {
                Ok(()) => {
                    crate::system::reboot_later(None);
                    crate::log(format_args!("reboot asked for in the web UI"));
                    html_page(
                        StatusCode::OK,
                        pages::message(
                            "Rebooting",
                            &hostname(),
                            None,
                            "The router is rebooting; this page works again in about a minute.",
                            Some(("/", "Back to the overview")),
                        ),
                    )
                }
                Err(e) => html_page(StatusCode::INTERNAL_SERVER_ERROR, system(app, &s.csrf, &r.path, Some((true, &format!("No reboot: {e}"))))),
            }
        }
        "/network/confirm" => {
            let c = oxwrt_config::Config::load(&app.dir).unwrap_or_default();
            let (code, notice) = match oxwrt_config::rollback::pending(&app.dir) {
                None => (StatusCode::CONFLICT, "Nothing was waiting for a confirmation (kept already, or rolled back)."),
                Some(_) => match oxwrt_config::rollback::confirm(&app.dir) {
                    Ok(()) => {
                        crate::log(format_args!("configuration change kept (confirmed in the web UI)"));
                        (StatusCode::OK, "Kept.")
                    }
                    Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "The confirmation could not be written; the change will roll back."),
                },
            };
            html_page(code, crate::network::page(&hostname(), &s.csrf, &c, None, &Default::default(), Some(notice), pending_left(app)))
        }
        p if crate::vpn::FORMS.contains(&p) => {
            let run = std::path::Path::new(crate::vpn::RUN_DIR);
            let (path, form) = (p.to_owned(), r.form.clone());
            match tokio::task::spawn_blocking(move || crate::vpn::submit(&path, &form, run)).await {
                Ok(n) => html_page(
                    if n.msg.as_ref().is_some_and(|m| m.0) { StatusCode::BAD_REQUEST } else { StatusCode::OK },
                    crate::vpn::page(&hostname(), &s.csrf, run, &n),
                ),
                Err(_) => crate::app::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
            }
        }
        crate::sqm::PATH => crate::sqm::post(app, r, s),
        p if crate::network::FORMS.contains(&p) => match crate::network::submit(&app.dir, r, app.confirm_window) {
            (c, Ok(saved)) => {
                crate::log(format_args!(
                    "{} saved from the web UI ({}){}",
                    oxwrt_config::NETWORK_FILE,
                    r.path,
                    if saved.confirm_by.is_some() { "; rolled back unless kept in time" } else { "" }
                ));
                if saved.confirm_by.is_some() {
                    crate::app::watch_rollback(app.clone());
                }
                if saved.moved {
                    restart_self_later();
                }
                let notice = crate::network::saved_notice(&c, saved, app.confirm_window);
                html_page(StatusCode::OK, crate::network::page(&hostname(), &s.csrf, &c, None, &Default::default(), Some(&notice), pending_left(app)))
            }
            (c, Err(errors)) => html_page(StatusCode::BAD_REQUEST, crate::network::page(&hostname(), &s.csrf, &c, Some(r), &errors, None, pending_left(app))),
        },
        _ => crate::app::plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Seconds left for the pending change's confirmation, if one is pending.
fn pending_left(app: &App) -> Option<u64> {
    oxwrt_config::rollback::pending(&app.dir).map(|p| p.deadline.saturating_sub(oxwrt_config::rollback::uptime()))
}

/// In 2 s (the answer is out by then), asks init to restart webd, which then listens on the
/// new LAN address (`restart webd` on init's control socket: a member of group config may
/// restart a service that runs as its own user).
pub fn restart_self_later() {
    tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let done = tokio::task::spawn_blocking(|| oxinit::control::call(&oxinit::control::Request::Restart("webd".into()), &mut std::io::sink())).await;
        if let Ok(Err(e)) = done {
            crate::log(format_args!("the LAN address changed but webd cannot be restarted on it: {e}; run `service restart webd` on the console"));
        }
    });
}

/// The current password is checked like a login (throttled), then the new one stored;
/// every session ends.
async fn change_password(app: &Arc<App>, r: &Req, s: &Session) -> Resp {
    let refuse = |code, text: &str| html_page(code, system(app, &s.csrf, &r.path, Some((true, text))));
    if let Err(wait) = app.throttle.lock().unwrap_or_else(|e| e.into_inner()).check(r.peer, Instant::now()) {
        return refuse(StatusCode::TOO_MANY_REQUESTS, &format!("Too many wrong passwords: try again in {} s.", wait.as_secs() + 1));
    }
    if let Some(why) = password::weak(r.field("password"), r.field("repeat")) {
        return refuse(StatusCode::BAD_REQUEST, &format!("New password: {why}."));
    }
    let hash = match password::load(&app.dir) {
        Ok(Some(h)) => h,
        Ok(None) => return redirect("/setup"),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let current = r.field("current").to_owned();
    let ok = current.len() <= password::MAX_LEN && tokio::task::spawn_blocking(move || hash.verify(&current)).await.unwrap_or(false);
    if !ok {
        app.throttle.lock().unwrap_or_else(|e| e.into_inner()).failed(r.peer, Instant::now());
        return refuse(StatusCode::FORBIDDEN, "The current password is wrong.");
    }
    let (a, new) = (app.clone(), r.field("password").to_owned());
    match tokio::task::spawn_blocking(move || a.set_password(&new, false)).await {
        Ok(Ok(())) => redirect("/login"),
        Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error while hashing"),
    }
}
