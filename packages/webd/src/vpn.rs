//! The VPN page (/vpn): vpnd's WireGuard interfaces and peers with their state (vpnd's
//! status socket, /run/vpnd/status.sock), "add a device" (the new client's QR code inline
//! as SVG and its .conf as a download, both in that one answer: the router keeps no copy
//! of the client's private key), and disable, enable, remove per peer.
//!
//! Privilege separation: webd changes nothing of the VPN itself. Every change is a request
//! on vpnd's control socket (/run/vpnd/control.sock, mode 0660, group `config`: crate
//! vpnd, module `control`), where vpnd runs the console's own functions (`vpn add-peer`,
//! `vpn disable`, ...): one implementation, and webd never reads a key file. Peer names
//! come back from vpnd and the forms: they are rendered through maud (escaped) only.

use maud::{html, Markup, PreEscaped};
use std::path::Path;
use vpnd::control::{Answer, Request};
use vpnd::status::Status;

/// The forms (POST).
pub const FORMS: &[&str] = &["/vpn/init", "/vpn/add", "/vpn/disable", "/vpn/enable", "/vpn/remove"];
/// vpnd's run directory (its sockets).
pub const RUN_DIR: &str = "/run/vpnd";

/// What the page says after a form.
#[derive(Debug, Default)]
pub struct Notice {
    /// (is it an error, text).
    pub msg: Option<(bool, String)>,
    /// A name refused, shown as given (as text).
    pub rejected: Option<String>,
    /// A device just added: (name, its configuration).
    pub added: Option<(String, String)>,
}

/// vpnd's status now.
pub fn status(run: &Path) -> Result<Status, String> {
    let path = run.join(vpnd::daemon::STATUS_SOCKET);
    let dirs = vpnd::cli::Dirs { config: std::path::PathBuf::from(oxwrt_config::DIR), run: run.to_path_buf() };
    let json = vpnd::cli::status_json(&dirs)?;
    serde_json::from_str(json.trim()).map_err(|e| format!("vpnd's status on {} is not JSON ({e})", path.display()))
}

fn age(secs: Option<u64>) -> String {
    match secs {
        None => "never".into(),
        Some(s) if s < 120 => format!("{s} s ago"),
        Some(s) if s < 7200 => format!("{} min ago", s / 60),
        Some(s) => format!("{} h ago", s / 3600),
    }
}

/// The page.
pub fn page(hostname: &str, csrf: &str, run: &Path, n: &Notice) -> Markup {
    let st = status(run);
    crate::pages::layout(
        "VPN",
        hostname,
        Some(csrf),
        html! {
            @if let Some((err, text)) = &n.msg { p class=(if *err { "err" } else { "ok" }) { (text) } }
            @if let Some(name) = &n.rejected { p.err { "Refused name: " code #rejected { (name) } } }
            @if let Some((name, config)) = &n.added {
                div.box #added {
                    h2 { "New device: " (name) }
                    p { "Scan this with the WireGuard app (\"+\", \"Scan from QR code\"), or download the file for a laptop. "
                        b { "Shown this once:" } " the router keeps no copy of the device's private key." }
                    @match vpnd::qr::svg(config, 320) {
                        Ok(svg) => div #qr { (PreEscaped(svg)) },
                        Err(e) => p.err { "No QR code: " (e) },
                    }
                    p { a #download download=(format!("{name}.conf")) href=(format!("data:application/octet-stream;base64,{}", oxwrt_config::vpn::base64(config.as_bytes()))) { "Download " (name) ".conf" } }
                }
            }
            @match &st {
                Err(e) => p.err { "vpnd does not answer: " (e) },
                Ok(s) => {
                    @for p in &s.problems { p.err { (p) } }
                    @if s.interfaces.is_empty() {
                        p { "No VPN yet. This adds the WireGuard interface wg0 (10.8.0.1/24, and IPv6 when the router has it) on UDP port 51820; then add a device." }
                        form.box method="post" action="/vpn/init" {
                            (crate::pages::csrf_field(csrf))
                            button type="submit" { "Set up the VPN" }
                        }
                    }
                    @for i in &s.interfaces {
                        h2 { (i.name) " (UDP port " (i.listen_port) ")" }
                        p { "Public key: " code { (i.public_key.as_deref().unwrap_or("(not in the kernel)")) } }
                        table {
                            tr { th { "Device" } th { "State" } th { "Handshake" } th { "Endpoint" } th { "Received / sent" } th { "Addresses" } }
                            @for p in &i.peers {
                                tr.peer {
                                    td.peer-name { (p.name) }
                                    td { @if !p.enabled { "disabled" } @else if p.online { span.up { "online" } } @else { span.down { "offline" } } }
                                    td { (age(p.handshake_age)) }
                                    td { (p.endpoint.as_deref().unwrap_or("-")) }
                                    td { (crate::html::format_kib(p.rx_bytes / 1024)) " / " (crate::html::format_kib(p.tx_bytes / 1024)) }
                                    td { (p.allowed_ips.join(", ")) }
                                }
                                // The buttons on a row of their own: the table fits a phone.
                                tr.actions {
                                    td colspan="6" {
                                        form.inline method="post" action=(if p.enabled { "/vpn/disable" } else { "/vpn/enable" }) {
                                            (crate::pages::csrf_field(csrf))
                                            input type="hidden" name="name" value=(p.name);
                                            button type="submit" { (if p.enabled { "Disable" } else { "Enable" }) }
                                        }
                                        " "
                                        form.inline method="post" action="/vpn/remove" {
                                            (crate::pages::csrf_field(csrf))
                                            input type="hidden" name="name" value=(p.name);
                                            button type="submit" { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !s.interfaces.is_empty() {
                        h2 { "Add a device" }
                        form.box method="post" action="/vpn/add" {
                            (crate::pages::csrf_field(csrf))
                            label for="vpn_name" { "Name (letters, digits, '-', '_', '.'; e.g. anna-phone)" }
                            input #vpn_name name="name" required maxlength="64";
                            label { input type="checkbox" name="lan_only" value="yes"; " Only the home network through the VPN (else all traffic)" }
                            button type="submit" { "Add device" }
                        }
                    }
                }
            }
        },
    )
}

/// A form of [`FORMS`] with its `form` fields: the request to vpnd (blocking: at most
/// vpnd's answer time), and what the page says after it.
pub fn submit(path: &str, form: &std::collections::HashMap<String, String>, run: &Path) -> Notice {
    let field = |k: &str| form.get(k).map_or("", String::as_str);
    let name = field("name").trim();
    let req = match path {
        "/vpn/init" => Request::Init,
        "/vpn/add" => Request::AddPeer { name: name.to_string(), lan_only: field("lan_only") == "yes" },
        "/vpn/disable" => Request::Disable { name: name.to_string() },
        "/vpn/enable" => Request::Enable { name: name.to_string() },
        _ => Request::Remove { name: name.to_string() },
    };
    if let Some(why) = matches!(req, Request::AddPeer { .. }).then(|| oxwrt_config::vpn::bad_peer_name(name)).flatten() {
        return Notice { msg: Some((true, format!("Not added: {why}"))), rejected: Some(name.to_string()), added: None };
    }
    match vpnd::control::call(run, &req) {
        Ok(Answer { ok: true, message, config }) => {
            crate::log(format_args!("VPN: {message} (web UI)"));
            Notice { msg: Some((false, message)), rejected: None, added: config.map(|c| (name.to_string(), c)) }
        }
        Ok(Answer { message, .. }) => Notice { msg: Some((true, message)), rejected: None, added: None },
        Err(e) => Notice { msg: Some((true, e)), rejected: None, added: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_name_is_refused_and_shown_as_text() {
        let payload = "<img src=x onerror=alert(1)>";
        let form = [("name".to_string(), payload.to_string())].into_iter().collect();
        let n = submit("/vpn/add", &form, Path::new("/nonexistent"));
        assert_eq!(n.rejected.as_deref(), Some(payload));
        let html = page("router", "t", Path::new("/nonexistent"), &n).into_string();
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains(payload), "{html}");
    }

    #[test]
    fn a_new_device_gets_its_qr_code_and_download() {
        let n = Notice { msg: None, rejected: None, added: Some(("phone".into(), "[Interface]\nPrivateKey = x\n".into())) };
        let html = page("router", "t", Path::new("/nonexistent"), &n).into_string();
        assert!(html.contains("<svg") && html.contains("download=\"phone.conf\""), "{html}");
        assert!(html.contains(&format!("base64,{}", oxwrt_config::vpn::base64(b"[Interface]\nPrivateKey = x\n"))), "{html}");
        assert!(html.contains("vpnd does not answer"), "{html}");
    }
}
