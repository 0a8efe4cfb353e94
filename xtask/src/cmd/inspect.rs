//! `cargo xtask inspect FILE`: what a firmware image is made of, as a tree of offsets and
//! sizes, with every checksum in it verified.
//!
//! [`inspect`] builds a [`Report`] (tests assert on it, `--json` prints it); [`run`]
//! prints it and fails when a checksum does not match, something is broken, or the file
//! is not a firmware image at all. Understood at the top: a Linksys factory `.bin`, a TRX,
//! a Netgear CHK, a U-Boot uImage, a GPT disk, a bare squashfs, or a whole-flash dump
//! with one of those on a 64 KiB boundary. Inside them: gzip (decompressed, so its CRC is
//! checked and its contents named), LZMA, xz, ELF, squashfs, FAT, ext2/3/4, JFFS2,
//! padding. The formats are in the `oxwrt-images` crate; docs/image-formats.md shows the
//! layout oxwrt writes.

use anyhow::{bail, Context as _, Result};
use oxwrt_images::detect::{self, Format};
use oxwrt_images::gpt::{self, Guid};
use oxwrt_images::size::human;
use oxwrt_images::{chk, linksys, trx, uimage};
use serde::Serialize;
use std::io::{self, Read, Write};
use std::path::Path;

/// What `inspect` found in a file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: String,
    pub size: u64,
    /// The file's contents in order, each with what it contains.
    pub nodes: Vec<Node>,
    /// Every checksum verified, in file order.
    pub checks: Vec<Check>,
    /// Structural problems found below the top level (a truncated squashfs, ...).
    pub problems: Vec<String>,
    /// No failed check and no problem.
    pub ok: bool,
    /// The last line of the text report.
    pub verdict: String,
}

/// One region of the file.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// From the start of the file.
    pub offset: u64,
    pub size: u64,
    /// What it is, for programs: "linksys", "trx", "trx-partition", "gzip", "lzma", "xz",
    /// "elf", "squashfs", "chk", "uimage", "gpt", "gpt-partition", "fat", "ext", "jffs2",
    /// "jffs2-end", "padding", "data", "broken".
    pub kind: String,
    /// What it is, for people: one line.
    pub summary: String,
    /// The header fields, by name.
    pub fields: Vec<Field>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// A checksum verified.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// E.g. "TRX CRC32".
    pub what: String,
    /// Where the checked structure starts.
    pub offset: u64,
    pub ok: bool,
    /// Stored and computed values, or what went wrong.
    pub detail: String,
}

impl Node {
    fn new(kind: &str, offset: u64, size: u64, summary: impl Into<String>) -> Node {
        Node { offset, size, kind: kind.into(), summary: summary.into(), fields: Vec::new(), children: Vec::new() }
    }

    fn field(mut self, name: &str, value: impl ToString) -> Node {
        self.fields.push(Field { name: name.into(), value: value.to_string() });
        self
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.name == name).map(|f| f.value.as_str())
    }

    fn walk<'a>(&'a self, out: &mut Vec<&'a Node>) {
        out.push(self);
        for c in &self.children {
            c.walk(out);
        }
    }
}

impl Report {
    /// Every node, depth first, in file order.
    pub fn all_nodes(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        for n in &self.nodes {
            n.walk(&mut out);
        }
        out
    }

    /// The nodes of `kind`, depth first.
    pub fn find(&self, kind: &str) -> Vec<&Node> {
        self.all_nodes().into_iter().filter(|n| n.kind == kind).collect()
    }

    /// The report as an indented tree with offsets and sizes, ending with the verdict.
    pub fn render(&self) -> String {
        let mut s = format!("{}: {} ({} bytes)\n", self.file, human(self.size), self.size);
        s.push_str("  offset        size  contents\n");
        fn line(s: &mut String, n: &Node, depth: usize) {
            s.push_str(&format!("{:#010x}  {:>10}  {}{}\n", n.offset, human(n.size), "  ".repeat(depth), n.summary));
            for c in &n.children {
                line(s, c, depth + 1);
            }
        }
        for n in &self.nodes {
            line(&mut s, n, 0);
        }
        for p in &self.problems {
            s.push_str(&format!("problem: {p}\n"));
        }
        s.push_str(&self.verdict);
        s.push('\n');
        s
    }

    fn finish(file: String, size: u64, nodes: Vec<Node>, checks: Vec<Check>, problems: Vec<String>) -> Report {
        let failed: Vec<String> =
            checks.iter().filter(|c| !c.ok).map(|c| format!("{} at {:#x}: {}", c.what, c.offset, c.detail)).chain(problems.iter().cloned()).collect();
        let ok = failed.is_empty();
        let verdict = if !ok {
            format!("verdict: FAILED: {}", failed.join("; "))
        } else if checks.is_empty() {
            "verdict: OK: the structure is valid (this format carries no checksum)".to_string()
        } else {
            let names: Vec<&str> = checks.iter().map(|c| c.what.as_str()).collect();
            format!("verdict: OK: {} checksum{} valid ({})", checks.len(), if checks.len() == 1 { "" } else { "s" }, names.join(", "))
        };
        Report { file, size, nodes, checks, problems, ok, verdict }
    }
}

/// Reads and inspects `path`. An error means the file is not a firmware image this
/// understands (or is broken at the top): its message names the file, what was expected
/// and the offset where parsing failed. A report with failed checks is not an error:
/// see [`Report::ok`].
pub fn inspect(path: &Path) -> Result<Report> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    inspect_bytes(&path.display().to_string(), &data)
}

/// What the top of a file may be.
fn understood_at_top(f: &Format) -> bool {
    matches!(f, Format::Linksys(_) | Format::Trx | Format::Chk | Format::UImage | Format::Squashfs(_) | Format::Gpt(_) | Format::GptInvalid(_))
}

const EXPECTED: &str = "a Linksys factory image (a 4-character model pattern, then \"U2ND\" at byte 14), \
a TRX image (\"HDR0\"), a Netgear CHK or U-Boot uImage header, a GPT disk or a squashfs filesystem";

/// Inspects `data`, the contents of the file `name`.
pub fn inspect_bytes(name: &str, data: &[u8]) -> Result<Report> {
    if data.is_empty() {
        bail!("{name}: the file is empty (0 bytes): expected a firmware image: {EXPECTED}");
    }
    let mut w = Walker::default();
    let mut nodes = Vec::new();
    let top = detect::detect(data);
    let start = if top.as_ref().is_some_and(understood_at_top) {
        0
    } else if let Some(at) = flash_dump_start(data) {
        // A whole-flash dump: the boot loader (or erased flash) comes first.
        let head = &data[..at];
        let what = match detect::detect(head) {
            Some(Format::Erased) => "erased flash (0xff)".to_string(),
            Some(f) => format!("{f} (before the firmware: boot loader area)"),
            None => "data not recognised (before the firmware: boot loader area)".to_string(),
        };
        nodes.push(Node::new("data", 0, at as u64, what));
        at
    } else {
        bail!(
            "{name}: not a firmware image `cargo xtask inspect` understands: expected at offset 0x0 {EXPECTED}, \
             but the file ({} bytes) starts with {}{}",
            data.len(),
            hex_preview(data),
            match &top {
                Some(f) => format!(", which is {}", describe_foreign(f)),
                None => foreign_guess(data).map(|g| format!(", which looks like {g}")).unwrap_or_default(),
            }
        );
    };
    let (node, used) =
        w.item(&data[start..], start as u64, 0).map_err(|f| anyhow::anyhow!("{name}: {} at offset {:#x} is not valid: {}", f.what, f.offset, f.message))?;
    nodes.push(node);
    let end = start.saturating_add(used).min(data.len());
    if end < data.len() {
        let mut rest = w.region(&data[end..], end as u64, 0);
        if let Some(first) = rest.first_mut() {
            if first.kind == "data" {
                first.summary = format!("{} (after the image)", first.summary);
            }
        }
        nodes.extend(rest);
    }
    Ok(Report::finish(name.to_string(), data.len() as u64, nodes, w.checks, w.problems))
}

/// `cargo xtask inspect FILE [--json]`.
pub fn run(path: &Path, json: bool) -> Result<()> {
    let report = match inspect(path) {
        Ok(r) => r,
        Err(e) => {
            if json {
                let err = serde_json::json!({ "file": path.display().to_string(), "ok": false, "error": format!("{e:#}") });
                println!("{}", serde_json::to_string_pretty(&err)?);
            }
            return Err(e);
        }
    };
    let mut out = io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", report.render())?;
    }
    if !report.ok {
        bail!("{}: {}", report.file, report.verdict);
    }
    Ok(())
}

/// Where parsing failed, for the top-level error.
struct Failure {
    offset: u64,
    what: String,
    message: String,
}

fn fail(offset: u64, what: impl Into<String>, message: impl ToString) -> Failure {
    Failure { offset, what: what.into(), message: message.to_string() }
}

/// Collects checks and problems while walking the file.
#[derive(Default)]
struct Walker {
    checks: Vec<Check>,
    problems: Vec<String>,
}

/// Deepest nesting followed (a TRX in a CHK in ...).
const MAX_DEPTH: usize = 8;
/// Most items listed in one region.
const MAX_ITEMS: usize = 32;
/// Largest gzip output decompressed to check its CRC.
const MAX_GUNZIP: u64 = 512 << 20;

impl Walker {
    fn check(&mut self, what: impl Into<String>, offset: u64, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check { what: what.into(), offset, ok, detail: detail.into() });
    }

    fn crc_check(&mut self, what: &str, offset: u64, stored: u32, computed: u32) -> &'static str {
        let ok = stored == computed;
        self.check(what, offset, ok, format!("stored {stored:#010x}, computed {computed:#010x}"));
        if ok {
            "OK"
        } else {
            "MISMATCH"
        }
    }

    /// The items of a region, in order, with the padding between them.
    fn region(&mut self, data: &[u8], base: u64, depth: usize) -> Vec<Node> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            let rest = &data[pos..];
            let at = base + pos as u64;
            if nodes.len() >= MAX_ITEMS || depth > MAX_DEPTH {
                nodes.push(Node::new("data", at, rest.len() as u64, "data (not examined further)"));
                break;
            }
            // A format first (an ext4 filesystem starts with 1 KiB of zeros), then runs of
            // padding.
            let recognised = !matches!(detect::detect(rest), None | Some(Format::Zeros | Format::Erased));
            if let Some((fill, run)) = fill_run(rest).filter(|_| !recognised) {
                let what = if fill == 0 { "padding (zeros)" } else { "padding (0xff, erased flash)" };
                let mut node = Node::new("padding", at, run as u64, what).field("byte", format!("{fill:#04x}"));
                if run == rest.len() && !nodes.is_empty() {
                    node.summary = format!("{what} to {:#x}", at + run as u64);
                }
                if let Some(prev) = nodes.last_mut() {
                    if prev.kind == "squashfs" {
                        prev.summary = format!("{}, followed by {} of padding", prev.summary, human(run as u64));
                        prev.fields.push(Field { name: "padding_after".into(), value: run.to_string() });
                    }
                }
                nodes.push(node);
                pos += run;
                continue;
            }
            match self.item(rest, at, depth) {
                Ok((node, used)) => {
                    nodes.push(node);
                    pos += used.max(1);
                }
                Err(f) if f.what == "unknown" => {
                    nodes.push(Node::new("data", at, rest.len() as u64, "data (not recognised)"));
                    break;
                }
                Err(f) => {
                    let msg = format!("{} at {:#x}: {}", f.what, f.offset, f.message);
                    nodes.push(Node::new("broken", at, rest.len() as u64, format!("BROKEN {msg}")));
                    self.problems.push(msg);
                    break;
                }
            }
        }
        nodes
    }

    /// What `data` starts with, as a node, and how many bytes it takes.
    fn item(&mut self, data: &[u8], at: u64, depth: usize) -> Result<(Node, usize), Failure> {
        let Some(format) = detect::detect(data) else {
            return Err(fail(at, "unknown", "not recognised"));
        };
        let all = data.len();
        Ok(match format {
            Format::Linksys(h) => self.linksys(data, at, depth, &h)?,
            Format::Trx => self.trx(data, at, depth)?,
            Format::Chk => self.chk(data, at, depth)?,
            Format::UImage => self.uimage(data, at, depth)?,
            Format::Squashfs(s) => {
                if s.bytes_used > all as u64 {
                    return Err(fail(
                        at,
                        "squashfs",
                        format!("truncated: its superblock (byte 40) gives {} bytes used, but only {all} bytes are there", s.bytes_used),
                    ));
                }
                let node = Node::new("squashfs", at, s.bytes_used, format!("{format}"))
                    .field("bytes_used", s.bytes_used)
                    .field("compression", s.compression_name())
                    .field("block_size", s.block_size)
                    .field("inodes", s.inodes);
                (node, s.bytes_used as usize)
            }
            Format::Gzip(g) => self.gzip(data, at, &g),
            Format::Xz => {
                // The stream header's CRC32 covers its two flag bytes.
                if data.len() >= 12 {
                    let stored = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
                    let mut crc = flate2::Crc::new();
                    crc.update(&data[6..8]);
                    let computed = crc.sum();
                    self.crc_check("xz stream header CRC32", at, stored, computed);
                }
                (Node::new("xz", at, all as u64, "xz stream"), all)
            }
            Format::Elf(e) => {
                let len = e.extent(data).filter(|&l| l >= 52).unwrap_or(all).min(all);
                let node = Node::new("elf", at, len as u64, format!("{format}")).field("machine", e.machine_name()).field("entry", format!("{:#x}", e.entry));
                (node, len)
            }
            Format::Lzma(l) => {
                let node = Node::new("lzma", at, all as u64, format!("{format}"))
                    .field("dict_size", l.dict_size)
                    .field("uncompressed_size", l.uncompressed_size.map_or("unknown".into(), |s| s.to_string()));
                (node, all)
            }
            Format::Gpt(g) => (self.gpt(data, at, depth, &g), all),
            Format::GptInvalid(why) => {
                self.check("GPT", at, false, why.clone());
                (Node::new("gpt", at, all as u64, format!("GPT disk that does not verify: {why}")), all)
            }
            Format::Fat(ref f) => (Node::new("fat", at, all as u64, format!("{format}")).field("label", &f.label), all),
            Format::Ext(ref e) => (Node::new("ext", at, all as u64, format!("{format}")).field("version", e.version), all),
            Format::Jffs2 { .. } => (Node::new("jffs2", at, all as u64, format!("{format}")), all),
            Format::Jffs2EndMarker => (Node::new("jffs2-end", at, 4, "JFFS2 end marker (de ad c0 de): the empty writable area starts here"), 4),
            Format::Erased | Format::Zeros => {
                let what = if format == Format::Erased { "padding (0xff, erased flash)" } else { "padding (zeros)" };
                (Node::new("padding", at, all as u64, what), all)
            }
        })
    }

    fn linksys(&mut self, data: &[u8], at: u64, depth: usize, h: &linksys::Header) -> Result<(Node, usize), Failure> {
        let what = "Linksys factory image";
        linksys::Header::parse(data).map_err(|e| fail(at, what, e))?;
        let mut node = Node::new(
            "linksys",
            at,
            linksys::HEADER_LEN as u64,
            format!(
                "Linksys code pattern header: {} ({}), {}, {}, hw {}, flags {:#06x}",
                h.pattern_str(),
                h.model().unwrap_or("unknown model"),
                h.version_string(),
                h.date_string(),
                h.hw_version,
                h.flags
            ),
        )
        .field("pattern", h.pattern_str())
        .field("model", h.model().unwrap_or("unknown"))
        .field("version", h.version_string())
        .field("date", h.date_string())
        .field("hw_version", h.hw_version)
        .field("serial", h.serial)
        .field("flags", format!("{:#06x}", h.flags));
        if h.is_pbot() {
            node = node.field("pbot", "yes");
        }
        let trx_at = at + linksys::HEADER_LEN as u64;
        let (trx, used) =
            self.trx(&data[linksys::HEADER_LEN..], trx_at, depth).map_err(|f| Failure { what: format!("the {} after the Linksys header", f.what), ..f })?;
        // The TRX is the header's sibling in the file, but the header is about it: show
        // them one above the other, the TRX as the header's child.
        node.children.push(trx);
        node.size = (linksys::HEADER_LEN + used) as u64;
        Ok((node, linksys::HEADER_LEN + used))
    }

    fn trx(&mut self, data: &[u8], at: u64, depth: usize) -> Result<(Node, usize), Failure> {
        let t = trx::Trx::parse(data).map_err(|e| fail(at, "TRX image", e))?;
        let status = self.crc_check("TRX CRC32", at, t.stored_crc, t.computed_crc);
        let mut node = Node::new(
            "trx",
            at,
            t.len as u64,
            format!(
                "TRX v{}, length {}, flags {:#06x}, CRC32 {:#010x} {status}{}",
                t.version,
                t.len,
                t.flags,
                t.stored_crc,
                if t.crc_ok() { String::new() } else { format!(" (computed {:#010x})", t.computed_crc) }
            ),
        )
        .field("version", t.version)
        .field("len", t.len)
        .field("flags", format!("{:#06x}", t.flags))
        .field("crc_stored", format!("{:#010x}", t.stored_crc))
        .field("crc_computed", format!("{:#010x}", t.computed_crc))
        .field("crc", status);
        for p in &t.partitions {
            let role = match (t.version, p.index) {
                (_, 0) => " (what CFE boots)",
                (2, 3) => " (Linksys pattern header)",
                _ => "",
            };
            let part_at = at + p.offset as u64;
            let mut pn = Node::new("trx-partition", part_at, p.len as u64, format!("partition {}{role}", p.index)).field("index", p.index);
            pn.children = self.region(t.partition_data(data, p), part_at, depth + 1);
            node.children.push(pn);
        }
        Ok((node, t.len as usize))
    }

    fn chk(&mut self, data: &[u8], at: u64, depth: usize) -> Result<(Node, usize), Failure> {
        let c = chk::Chk::parse(data).map_err(|e| fail(at, "Netgear CHK image", e))?;
        let h = &c.header;
        for (what, stored, computed) in [
            ("CHK kernel checksum", h.kernel_checksum, c.computed.kernel),
            ("CHK rootfs checksum", h.rootfs_checksum, c.computed.rootfs),
            ("CHK image checksum", h.image_checksum, c.computed.image),
            ("CHK header checksum", h.header_checksum, c.computed.header),
        ] {
            self.crc_check(what, at, stored, computed);
        }
        let status = if c.checksums_ok() { "checksums OK" } else { "checksum MISMATCH" };
        let mut node = Node::new(
            "chk",
            at,
            c.rootfs_range().end as u64,
            format!("Netgear CHK, board {}, region {}, kernel {} bytes, rootfs {} bytes, {status}", h.board_id, h.region, h.kernel_len, h.rootfs_len),
        )
        .field("board_id", &h.board_id)
        .field("region", h.region);
        let k = c.kernel_range();
        let mut kn = Node::new("chk-kernel", at + k.start as u64, k.len() as u64, "kernel");
        kn.children = self.region(&data[k.clone()], at + k.start as u64, depth + 1);
        node.children.push(kn);
        let r = c.rootfs_range();
        if !r.is_empty() {
            let mut rn = Node::new("chk-rootfs", at + r.start as u64, r.len() as u64, "rootfs");
            rn.children = self.region(&data[r.clone()], at + r.start as u64, depth + 1);
            node.children.push(rn);
        }
        Ok((node, r.end))
    }

    fn uimage(&mut self, data: &[u8], at: u64, depth: usize) -> Result<(Node, usize), Failure> {
        let u = uimage::UImage::parse(data).map_err(|e| fail(at, "uImage", e))?;
        let h = &u.header;
        let hs = self.crc_check("uImage header CRC32", at, h.header_crc, u.computed_header_crc);
        let ds = self.crc_check("uImage data CRC32", at, h.data_crc, u.computed_data_crc);
        let name = |n: Option<&str>, v: u8| n.map_or(format!("unknown ({v})"), str::to_string);
        let mut node = Node::new(
            "uimage",
            at,
            u.data_range().end as u64,
            format!(
                "uImage {:?}: {} {} {}, {} compression, load {:#x}, entry {:#x}, header CRC {hs}, data CRC {ds}",
                h.name,
                name(h.os_name(), h.os),
                name(h.arch_name(), h.arch),
                name(h.type_name(), h.image_type),
                name(h.compression_name(), h.compression),
                h.load,
                h.entry
            ),
        )
        .field("name", &h.name)
        .field("data_size", h.data_size);
        let d = u.data_range();
        node.children = self.region(&data[d.clone()], at + d.start as u64, depth + 1);
        Ok((node, d.end))
    }

    fn gzip(&mut self, data: &[u8], at: u64, g: &detect::Gzip) -> (Node, usize) {
        let mut dec = flate2::bufread::GzDecoder::new(data);
        let mut sink = Head::default();
        let result = io::copy(&mut (&mut dec).take(MAX_GUNZIP), &mut sink);
        let name = g.name.as_ref().map(|n| format!(", original name {n:?}")).unwrap_or_default();
        let (used, summary) = match result {
            Ok(n) if n < MAX_GUNZIP => {
                let used = data.len() - dec.into_inner().len();
                self.check("gzip CRC32", at, true, format!("{n} bytes decompressed"));
                let inner = detect::detect(&sink.head).map(|f| format!(": {f}")).unwrap_or_default();
                (used, format!("gzip{name}, {used} bytes -> {n} bytes, CRC32 OK{inner}"))
            }
            Ok(_) => (data.len(), format!("gzip{name}, more than {} decompressed: not checked", human(MAX_GUNZIP))),
            Err(e) => {
                self.check("gzip CRC32", at, false, format!("the stream does not decompress: {e}"));
                (data.len(), format!("gzip{name}, BROKEN: {e}"))
            }
        };
        let mut node = Node::new("gzip", at, used as u64, summary).field("uncompressed_size", sink.total);
        if let Some(n) = &g.name {
            node = node.field("name", n);
        }
        (node, used)
    }

    fn gpt(&mut self, data: &[u8], at: u64, depth: usize, g: &gpt::Gpt) -> Node {
        self.check("GPT CRC32s", at, true, "both headers and entry arrays verify");
        let mut node = Node::new("gpt", at, data.len() as u64, format!("GPT disk {}, {} partitions, both copies verify", g.disk_guid, g.partitions.len()))
            .field("disk_guid", g.disk_guid);
        for (i, p) in g.partitions.iter().enumerate() {
            let start = p.offset() as usize;
            let end = (p.offset() + p.size()) as usize;
            let Some(slice) = data.get(start..end) else {
                continue;
            };
            let mut pn = Node::new("gpt-partition", at + p.offset(), p.size(), format!("partition {} `{}` ({})", i + 1, p.name, type_name(p.type_guid)))
                .field("name", &p.name)
                .field("type", p.type_guid);
            pn.children = self.region(slice, at + p.offset(), depth + 1);
            node.children.push(pn);
        }
        node
    }
}

/// Keeps the first bytes written and counts all.
#[derive(Default)]
struct Head {
    head: Vec<u8>,
    total: u64,
}

impl Write for Head {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let keep = (4096 - self.head.len()).min(buf.len());
        self.head.extend_from_slice(&buf[..keep]);
        self.total += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A leading run of 0x00 or 0xff: the whole slice, or at least 16 bytes.
fn fill_run(data: &[u8]) -> Option<(u8, usize)> {
    let first = *data.first()?;
    if first != 0 && first != 0xFF {
        return None;
    }
    let run = data.iter().position(|&b| b != first).unwrap_or(data.len());
    (run == data.len() || run >= 16).then_some((first, run))
}

/// A TRX, Linksys factory image or uImage on a 64 KiB boundary of a file that does not
/// start with one: a whole-flash dump, boot loader first.
fn flash_dump_start(data: &[u8]) -> Option<usize> {
    (1..).map(|i| i * 0x10000).take_while(|&off| off < data.len()).find(|&off| {
        // Magic first: a full parse only where one is.
        let d = &data[off..];
        if d.starts_with(&trx::MAGIC) {
            trx::Trx::parse(d).is_ok()
        } else if d.get(14..18) == Some(&linksys::CODE_ID[..]) {
            linksys::Header::parse(d).is_ok()
        } else if d.starts_with(&uimage::MAGIC.to_be_bytes()) {
            uimage::UImage::parse(d).is_ok()
        } else {
            false
        }
    })
}

fn type_name(g: Guid) -> String {
    if g == Guid::EFI_SYSTEM {
        "EFI system partition".into()
    } else if g == Guid::LINUX_ROOT_X86_64 {
        "Linux root (x86-64)".into()
    } else if g == Guid::LINUX_FILESYSTEM {
        "Linux filesystem".into()
    } else {
        format!("type {g}")
    }
}

/// What a detected, but not top-level, format is, for the error.
fn describe_foreign(f: &Format) -> String {
    match f {
        Format::Elf(_) => format!("an {f}: a program or an unpacked kernel, not a firmware image"),
        Format::Erased => "erased flash: every byte is 0xff".into(),
        Format::Zeros => "all zeros".into(),
        other => format!("{other} (on its own: not a firmware image)"),
    }
}

/// Common non-firmware files, by their magic.
fn foreign_guess(data: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a zip archive"),
        (b"BZh", "a bzip2 stream"),
        (b"\x28\xb5\x2f\xfd", "a zstd stream"),
        (b"MZ", "a DOS/Windows (PE) executable, e.g. an EFI application"),
        (b"#!", "a script"),
    ];
    if let Some((_, name)) = MAGICS.iter().find(|(m, _)| data.starts_with(m)) {
        return Some(name);
    }
    let head = &data[..data.len().min(512)];
    if head.iter().all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace()) {
        return Some("text");
    }
    None
}

/// The first bytes, in hex.
fn hex_preview(data: &[u8]) -> String {
    let n = data.len().min(16);
    let hex: Vec<String> = data[..n].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}{}", hex.join(" "), if data.len() > n { " ..." } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_runs() {
        assert_eq!(fill_run(&[0; 5]), Some((0, 5)));
        assert_eq!(fill_run(&[0xFF; 20]), Some((0xFF, 20)));
        assert_eq!(fill_run(&[0, 0, 1]), None);
        let mut d = vec![0u8; 16];
        d.push(7);
        assert_eq!(fill_run(&d), Some((0, 16)));
        assert_eq!(fill_run(&[]), None);
    }
}
