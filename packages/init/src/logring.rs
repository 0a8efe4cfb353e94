//! The log ring: services' output, kernel messages and init's own lines, kept in memory
//! (bounded by bytes, oldest dropped first) and read with `logread`.

use std::collections::VecDeque;

/// 64 KiB of text: a few hundred lines, little against 16 MiB of RAM.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since boot, in milliseconds (CLOCK_MONOTONIC; kernel lines carry their own).
    pub uptime_ms: u64,
    /// `kernel`, `init` or a service name.
    pub source: String,
    pub line: String,
}

impl Entry {
    /// `[   12.345] webd: listening on [::]:80`
    pub fn format(&self) -> String {
        format!("[{:5}.{:03}] {}: {}", self.uptime_ms / 1000, self.uptime_ms % 1000, self.source, self.line)
    }
}

#[derive(Debug)]
pub struct LogRing {
    entries: VecDeque<Entry>,
    bytes: usize,
    capacity: usize,
}

impl LogRing {
    pub fn new(capacity: usize) -> Self {
        LogRing { entries: VecDeque::new(), bytes: 0, capacity }
    }

    pub fn push(&mut self, entry: Entry) {
        self.bytes += cost(&entry);
        self.entries.push_back(entry);
        while self.bytes > self.capacity {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= cost(&old),
                None => break,
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn cost(e: &Entry) -> usize {
    e.source.len() + e.line.len() + 16
}

/// One record read from /dev/kmsg: `6,339,5140900,-;NET: Registered protocol family 10`
/// (priority, sequence, microseconds since boot, flags; message). Continuation lines
/// (` KEY=value` after the message) are dropped.
pub fn parse_kmsg(record: &str) -> Option<Entry> {
    let (head, msg) = record.split_once(';')?;
    let mut fields = head.split(',');
    let _prio: u32 = fields.next()?.parse().ok()?;
    let _seq: u64 = fields.next()?.parse().ok()?;
    let usec: u64 = fields.next()?.parse().ok()?;
    let line = msg.lines().next().unwrap_or("").to_string();
    Some(Entry { uptime_ms: usec / 1000, source: "kernel".into(), line })
}

/// Splits a byte stream into lines; a line longer than `max` is cut there.
#[derive(Debug, Default)]
pub struct LineBuffer {
    partial: Vec<u8>,
}

impl LineBuffer {
    pub const MAX_LINE: usize = 1024;

    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(String)) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&data[..pos]);
            out(take_line(&mut self.partial));
            data = &data[pos + 1..];
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() >= Self::MAX_LINE {
            let rest = self.partial.split_off(Self::MAX_LINE);
            out(take_line(&mut self.partial));
            self.partial = rest;
        }
    }

    /// At end of stream: whatever is left, as a last line.
    pub fn finish(&mut self, out: &mut impl FnMut(String)) {
        if !self.partial.is_empty() {
            out(take_line(&mut self.partial));
        }
    }
}

fn take_line(buf: &mut Vec<u8>) -> String {
    let s = String::from_utf8_lossy(buf).trim_end_matches('\r').to_string();
    buf.clear();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &str) -> Entry {
        Entry { uptime_ms: 1234, source: "webd".into(), line: line.into() }
    }

    #[test]
    fn drops_oldest_beyond_capacity() {
        let mut ring = LogRing::new(100);
        for i in 0..10 {
            ring.push(entry(&format!("line {i} ..........")));
        }
        let lines: Vec<_> = ring.iter().map(|e| e.line.clone()).collect();
        assert!(lines.len() < 10 && !lines.is_empty());
        assert_eq!(lines.last().unwrap(), "line 9 ..........");
        assert!(!lines.iter().any(|l| l.starts_with("line 0 ")));
    }

    #[test]
    fn formats_uptime() {
        assert_eq!(entry("hi").format(), "[    1.234] webd: hi");
    }

    #[test]
    fn kmsg_record() {
        let e = parse_kmsg("6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net").unwrap();
        assert_eq!((e.uptime_ms, e.source.as_str(), e.line.as_str()), (5140, "kernel", "NET: Registered protocol family 10"));
        assert!(parse_kmsg("garbage").is_none());
    }

    #[test]
    fn lines_across_reads() {
        let mut lb = LineBuffer::default();
        let mut got = Vec::new();
        lb.feed(b"one\ntw", &mut |l| got.push(l));
        lb.feed(b"o\r\nthree", &mut |l| got.push(l));
        lb.finish(&mut |l| got.push(l));
        assert_eq!(got, ["one", "two", "three"]);
        let mut long = Vec::new();
        lb.feed(&vec![b'x'; 2500], &mut |l| long.push(l));
        assert_eq!(long.len(), 2);
    }
}
