//! The pages, as maud templates: markup is checked when webd compiles and every value
//! spliced in with `(value)` is HTML-escaped (maud escapes `&`, `<`, `>`, `"`), so a
//! hostname, a lease's name or a log line is always text, never markup. No inline
//! script or style: the CSS and the one script are files ([`STYLE`], [`SCRIPT`]), which the
//! Content-Security-Policy allows (`'self'`) and nothing else.
//!
//! Extension points: a page is a function returning [`Markup`] built with [`layout`]; the
//! menu is [`MENU`]. The SQM and VPN pages (sqmd, vpnd) add an entry there and a route in
//! `app.rs` when their daemons' status interfaces exist.

use maud::{html, Markup, DOCTYPE};

use crate::html::{format_kib, format_uptime};
use crate::status::Status;

/// The style sheet, /static/style.css: small, readable on a phone.
pub const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#222;line-height:1.4}\
header{background:#234;color:#fff;padding:.5em 1em;display:flex;flex-wrap:wrap;align-items:center;gap:.3em 1em}\
header a{color:#fff}header b{margin-right:auto}nav a{margin-right:.8em}\
main{max-width:52em;margin:0 auto;padding:0 1em 2em}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f3f3f3}.up{color:#070}.down{color:#a00}code{font-size:.95em;word-break:break-all}\
label{display:block;margin:.6em 0 .2em}input,select{font-size:1em;padding:.3em;max-width:100%}\
button{font-size:1em;padding:.35em 1em;margin-top:.8em}.err{color:#a00}.ok{color:#070}\
.box{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}form.inline{display:inline}\
pre{white-space:pre-wrap;word-break:break-all;font-size:.85em;background:#f6f6f6;padding:.5em}";

/// /static/app.js: refreshes the overview's live values from /api/status every 5 s, and the
/// logs page's lines from /api/log (with the page's filter) every 3 s, keeping the view at
/// the newest line when it was there (textContent only: the data is never parsed as
/// markup). The pages work without it.
pub const SCRIPT: &str = "(function(){var g=document.getElementById('log');if(g){setInterval(function(){\
fetch('/api/log'+location.search,{credentials:'same-origin'}).then(function(r){if(!r.ok)throw 0;return r.text()}).then(function(t){\
if(t===g.textContent)return;var d=document.documentElement,end=window.innerHeight+window.scrollY>=d.scrollHeight-4;g.textContent=t;\
if(end)window.scrollTo(0,d.scrollHeight)}).catch(function(){})},3000)}})();\
(function(){var e=document.getElementById('live');if(!e)return;\
function k(n){return n<1024?n+' KiB':n<1048576?(n/1024).toFixed(1)+' MiB':(n/1048576).toFixed(1)+' GiB'}\
function u(s){s=Math.floor(s);var d=Math.floor(s/86400),h=Math.floor(s/3600)%24,m=Math.floor(s/60)%60,x=s%60;\
return d?d+'d '+h+'h '+m+'m '+x+'s':h?h+'h '+m+'m '+x+'s':m?m+'m '+x+'s':x+'s'}\
function set(i,t){var n=document.getElementById(i);if(n)n.textContent=t}\
function tick(){fetch('/api/status',{credentials:'same-origin'}).then(function(r){if(!r.ok)throw 0;return r.json()}).then(function(s){\
set('uptime',u(s.uptime_seconds));set('load',s.load.map(function(l){return l.toFixed(2)}).join(' '));\
var m=s.memory;set('memory',k(m.total_kib)+' total, '+k(m.available_kib)+' available, '+k(m.used_kib)+' used')}).catch(function(){})}\
setInterval(tick,5000)})();";

/// The menu of a logged-in page: (path, title).
pub const MENU: &[(&str, &str)] =
    &[("/", "Overview"), ("/network", "Network"), ("/clients", "Clients"), ("/sqm", "SQM"), ("/vpn", "VPN"), ("/system", "System"), ("/logs", "Logs")];

/// What every page has: the head, and for a session the menu and a logout button
/// (`csrf`: the session's token; None on the login and first-password pages).
pub fn layout(title: &str, hostname: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - " (hostname) }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    b { (hostname) }
                    @if let Some(csrf) = csrf {
                        nav { @for (href, name) in MENU { a href=(href) { (name) } } }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A form's hidden CSRF field.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// An error message under a field, if any.
pub fn field_error(e: Option<&str>) -> Markup {
    html! { @if let Some(e) = e { div.err { (e) } } }
}

/// First boot: no password yet. `error`: why the last attempt was refused.
pub fn setup(hostname: &str, pre: &str, error: Option<&str>) -> Markup {
    layout(
        "Set a password",
        hostname,
        None,
        html! {
            p { "This router has no password yet. Choose one to protect its settings; nothing can be changed before." }
            form method="post" action="/setup" {
                (csrf_field(pre))
                label for="password" { "New password (at least 8 characters)" }
                input #password type="password" name="password" autocomplete="new-password" required minlength="8";
                label for="repeat" { "The same again" }
                input #repeat type="password" name="repeat" autocomplete="new-password" required minlength="8";
                (field_error(error))
                br;
                button type="submit" { "Set password" }
            }
        },
    )
}

pub fn login(hostname: &str, pre: &str, error: Option<&str>) -> Markup {
    layout(
        "Log in",
        hostname,
        None,
        html! {
            form method="post" action="/login" {
                (csrf_field(pre))
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required autofocus;
                (field_error(error))
                br;
                button type="submit" { "Log in" }
            }
        },
    )
}

/// A short page with a message (and a link on).
pub fn message(title: &str, hostname: &str, csrf: Option<&str>, text: &str, link: Option<(&str, &str)>) -> Markup {
    layout(
        title,
        hostname,
        csrf,
        html! {
            p { (text) }
            @if let Some((href, name)) = link { p { a href=(href) { (name) } } }
        },
    )
}

/// One row of a two-column table.
fn row(k: &str, v: Markup) -> Markup {
    html! { tr { th { (k) } td { (v) } } }
}

/// The overview: system, interfaces and their addresses, clients.
pub fn overview(st: &Status, csrf: &str, clients: usize) -> Markup {
    let m = &st.memory;
    layout(
        "Overview",
        &st.hostname,
        Some(csrf),
        html! {
            table #live {
                (row("Hostname", html! { (st.hostname) }))
                (row("oxwrt", html! { (st.oxwrt.version) " (" (st.oxwrt.build_id) ")" }))
                (row("Kernel", html! { (st.kernel.release) " " (st.kernel.machine) }))
                (row("Uptime", html! { span #uptime { (format_uptime(st.uptime_seconds)) } }))
                (row("Load average", html! { span #load { (format!("{:.2} {:.2} {:.2}", st.load[0], st.load[1], st.load[2])) } }))
                (row("Memory", html! { span #memory { (format_kib(m.total_kib)) " total, " (format_kib(m.available_kib)) " available, " (format_kib(m.used_kib)) " used" } }))
                (row("Clients", html! { a href="/clients" { (clients) " with a DHCP lease" } }))
            }
            h2 { "Interfaces" }
            table {
                tr { th { "Interface" } th { "State" } th { "MAC" } th { "Addresses" } }
                @for i in &st.interfaces {
                    @let state = if i.up { "up" } else { "down" };
                    tr {
                        td { (i.name) }
                        td class=(state) { (state) @if i.operstate != state { " (" (i.operstate) ")" } }
                        td { code { (i.mac.as_deref().unwrap_or("-")) } }
                        td { @for (n, a) in i.addresses.iter().enumerate() { @if n > 0 { br; } code { (a.address) "/" (a.prefix) } } }
                    }
                }
            }
            p { a href="/api/status" { "JSON" } }
        },
    )
}

/// Rendered markup as a String.
pub fn render(m: Markup) -> String {
    m.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const XSS: &[&str] = &["<img src=x onerror=alert(1)>", "\"; reboot #", "<script>alert(1)</script>", "' onmouseover='x", "&lt;already&gt;"];

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        for p in XSS {
            let page = render(message("T", p, Some(p), p, Some((p, p))));
            assert!(!page.contains("<img"), "{page}");
            assert!(!page.contains("<script>"), "{page}");
            assert!(!page.contains("value=\"\"; reboot"), "{page}");
            assert!(page.contains(&maud::html! { (p) }.into_string()));
        }
        assert_eq!(render(html! { (XSS[0]) }), "&lt;img src=x onerror=alert(1)&gt;");
        assert_eq!(render(html! { a title=(XSS[1]) {} }), "<a title=\"&quot;; reboot #\"></a>");
    }

    #[test]
    fn no_inline_script_or_style() {
        let page = render(setup("gw", "t", Some("bad")));
        assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        assert!(page.contains("<script src=\"/static/app.js\" defer></script>"));
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<input type=\"hidden\" name=\"csrf\" value=\"t\">"));
    }
}
