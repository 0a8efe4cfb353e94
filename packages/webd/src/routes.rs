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
pub const FORMS: &[&str] = &["/system/password"];

pub fn is_form(path: &str) -> bool {
    FORMS.contains(&path) || crate::network::FORMS.contains(&path)
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
            html_page(StatusCode::OK, crate::network::page(&hostname(), &s.csrf, &c, None, &errors, None))
        }
        "/system" => html_page(StatusCode::OK, system(app, &s.csrf, None)),
        "/logs" => html_page(StatusCode::OK, crate::logs::page(&hostname(), &s.csrf, &r.query_value("q"))),
        _ => crate::app::plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The system page: hostname, password change. `msg`: (is it an error, text) after a form.
fn system(_app: &App, csrf: &str, msg: Option<(bool, &str)>) -> maud::Markup {
    layout(
        "System",
        &hostname(),
        Some(csrf),
        html! {
            h2 { "Password" }
            form.box method="post" action="/system/password" {
                (pages::csrf_field(csrf))
                label for="current" { "Current password" }
                input #current type="password" name="current" autocomplete="current-password" required;
                label for="password" { "New password (at least 8 characters)" }
                input #password type="password" name="password" autocomplete="new-password" required minlength="8";
                label for="repeat" { "The same again" }
                input #repeat type="password" name="repeat" autocomplete="new-password" required minlength="8";
                @if let Some((err, text)) = msg { div class=(if err { "err" } else { "ok" }) { (text) } }
                br;
                button type="submit" { "Change password" }
                p { "Changing it logs out every session, this one too." }
            }
        },
    )
}

/// POST of a form in [`FORMS`].
pub async fn form(app: &Arc<App>, r: &Req, s: &Session) -> Resp {
    match r.path.as_str() {
        "/system/password" => change_password(app, r, s).await,
        p if crate::network::FORMS.contains(&p) => match crate::network::submit(&app.dir, r) {
            (c, Ok(moved)) => {
                crate::log(format_args!("{} saved from the web UI ({})", oxwrt_config::NETWORK_FILE, r.path));
                if moved {
                    restart_self_later();
                }
                let notice = crate::network::saved_notice(&c, moved);
                html_page(StatusCode::OK, crate::network::page(&hostname(), &s.csrf, &c, None, &Default::default(), Some(&notice)))
            }
            (c, Err(errors)) => html_page(StatusCode::BAD_REQUEST, crate::network::page(&hostname(), &s.csrf, &c, Some(r), &errors, None)),
        },
        _ => crate::app::plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// In 2 s (the answer is out by then), asks init to restart webd, which then listens on the
/// new LAN address (`restart webd` on init's control socket: a member of group config may
/// restart a service that runs as its own user).
fn restart_self_later() {
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
    let refuse = |code, text: &str| html_page(code, system(app, &s.csrf, Some((true, text))));
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
