//! QR codes of client configurations (what the WireGuard apps scan): the symbol from crate
//! `qrcode` (no default features: no image crate), drawn here from its module matrix as
//! text for the console ([`text`]) and as SVG for the web interface ([`svg`]).
//!
//! The error correction level is L (7%): a configuration is about 300 bytes, and L keeps
//! the symbol at version 10 or so (57 modules), small enough for an 80-column console.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of quiet zone around the symbol (the standard asks for 4).
pub const QUIET: usize = 4;

/// The symbol's dark modules, row by row, with the quiet zone (false = light).
pub fn matrix(data: &str) -> Result<Vec<Vec<bool>>, String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L)
        .map_err(|e| format!("cannot make a QR code of {} bytes: {e}; the configuration is too long for a QR code", data.len()))?;
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 2 * QUIET;
    let mut m = vec![vec![false; size]; size];
    for y in 0..w {
        for x in 0..w {
            m[y + QUIET][x + QUIET] = colors.get(y * w + x) == Some(&Color::Dark);
        }
    }
    Ok(m)
}

/// Two rows of modules per line with the Unicode half blocks, drawn light-on-dark
/// inverted for terminals with a dark background: a dark module is a blank, a light one
/// a block (scanners read both polarities only sometimes, so the quiet zone is drawn too).
/// `ascii`: two characters per module, one row per line, `##` for light (twice as wide).
pub fn text(data: &str, ascii: bool) -> Result<String, String> {
    let m = matrix(data)?;
    let mut out = String::new();
    if ascii {
        for row in &m {
            for &dark in row {
                out.push_str(if dark { "  " } else { "##" });
            }
            out.push('\n');
        }
        return Ok(out);
    }
    for pair in m.chunks(2) {
        for x in 0..pair[0].len() {
            let top = !pair[0][x];
            let bottom = pair.get(1).is_some_and(|r| !r[x]);
            out.push(match (top, bottom) {
                (true, true) => '\u{2588}',
                (true, false) => '\u{2580}',
                (false, true) => '\u{2584}',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// An SVG image of the code: a white square and one path of dark unit squares, scaled by
/// the viewer (`viewBox` in modules; `size` pixels wide and high).
pub fn svg(data: &str, size: u32) -> Result<String, String> {
    let m = matrix(data)?;
    let n = m.len();
    let mut path = String::new();
    for (y, row) in m.iter().enumerate() {
        let mut x = 0;
        while x < n {
            if row[x] {
                let start = x;
                while x < n && row[x] {
                    x += 1;
                }
                path.push_str(&format!("M{start} {y}h{}v1h-{}z", x - start, x - start));
            } else {
                x += 1;
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\">\
<rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_fits_the_console() {
        let cfg = "[Interface]\nPrivateKey = ".to_string()
            + &"A".repeat(43)
            + "=\nAddress = 10.8.0.2/32, fd00:8::2/128\nDNS = 192.168.1.1\n\n[Peer]\nPublicKey = "
            + &"B".repeat(43)
            + "=\nPresharedKey = "
            + &"C".repeat(43)
            + "=\nEndpoint = vpn.example.org:51820\nAllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n";
        let t = text(&cfg, false).unwrap();
        let width = t.lines().next().unwrap().chars().count();
        assert!(width <= 80, "{width} columns");
        assert_eq!(t.lines().count(), width.div_ceil(2));
        let s = svg(&cfg, 256).unwrap();
        assert!(s.starts_with("<svg") && s.contains("viewBox=\"0 0 ") && s.contains("<path"));
        assert!(text(&"x".repeat(4000), false).unwrap_err().contains("too long"));
    }
}
