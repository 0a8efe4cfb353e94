//! The link model between the router and the ISP: per direction a rate limit, a tail-drop
//! queue (packets or bytes) and a one-way delay, like a modem with a buffer in front of a
//! slower line. Deterministic: every frame's times follow from the instants it was offered
//! at (smoltcp's clock), not from when it happens to be polled.
//!
//! A frame offered at `t` waits until the line is free (`start = max(t, line free)`: the
//! queueing delay, `start - t`), takes `len * 8 / rate` on the line, then `delay` to
//! arrive. The queue holds the frames waiting for the line (not the one on it); a frame
//! that would exceed the queue's limit is dropped. Lengths are Ethernet frames without
//! preamble or FCS.

use crate::wire::Wire;
use smoltcp::time::{Duration, Instant};
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

/// How much a queue holds before it drops (tail drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    Unlimited,
    Packets(usize),
    Bytes(usize),
}

/// One direction of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeConfig {
    /// Line rate in bits per second; None: frames take no time on the line.
    pub rate_bps: Option<u64>,
    pub queue: QueueLimit,
    /// One-way propagation delay, added after the frame has left the queue.
    pub delay: Duration,
}

impl Default for PipeConfig {
    /// No rate limit, no queue limit, no delay: a plain cable.
    fn default() -> Self {
        PipeConfig { rate_bps: None, queue: QueueLimit::Unlimited, delay: Duration::ZERO }
    }
}

impl PipeConfig {
    /// A line of `rate_bps` bits/s with an unlimited queue and no delay (chain the setters).
    pub fn rate(rate_bps: u64) -> PipeConfig {
        PipeConfig { rate_bps: Some(rate_bps), ..PipeConfig::default() }
    }
    pub fn queue_packets(self, packets: usize) -> PipeConfig {
        PipeConfig { queue: QueueLimit::Packets(packets), ..self }
    }
    pub fn queue_bytes(self, bytes: usize) -> PipeConfig {
        PipeConfig { queue: QueueLimit::Bytes(bytes), ..self }
    }
    pub fn delay(self, delay: std::time::Duration) -> PipeConfig {
        PipeConfig { delay: delay.into(), ..self }
    }

    /// Time a frame of `len` bytes takes on the line (rounded up to the microsecond).
    pub fn serialization(&self, len: usize) -> Duration {
        match self.rate_bps {
            Some(rate) if rate > 0 => Duration::from_micros((len as u64 * 8 * 1_000_000).div_ceil(rate)),
            _ => Duration::ZERO,
        }
    }
}

/// What went through one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Frames offered to the pipe, delivered out of it, and dropped (queue full).
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped_bytes: u64,
    /// The longest any frame waited in the queue (not counting its own time on the line
    /// or the propagation delay).
    pub max_queue_delay: Duration,
    /// The longest queue seen, in frames and in bytes (the frame on the line excluded).
    pub max_queue_frames: usize,
    pub max_queue_bytes: usize,
    /// Now in the queue.
    pub queue_frames: usize,
    pub queue_bytes: usize,
}

/// One direction: a queue in front of a line with a delay.
#[derive(Debug)]
pub struct Pipe {
    config: PipeConfig,
    /// (offered at, frame), waiting for the line.
    queue: VecDeque<(Instant, Vec<u8>)>,
    queue_bytes: usize,
    /// (arrives at, frame), on the line or propagating; arrival times never decrease.
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    line_free_at: Instant,
    stats: PipeStats,
}

impl Pipe {
    pub fn new(config: PipeConfig) -> Pipe {
        Pipe { config, queue: VecDeque::new(), queue_bytes: 0, in_flight: VecDeque::new(), line_free_at: Instant::ZERO, stats: PipeStats::default() }
    }

    pub fn config(&self) -> PipeConfig {
        self.config
    }

    /// Changes the parameters; frames already on the line keep their times.
    pub fn set_config(&mut self, config: PipeConfig) {
        self.config = config;
    }

    pub fn stats(&self) -> PipeStats {
        PipeStats { queue_frames: self.queue.len(), queue_bytes: self.queue_bytes, ..self.stats.clone() }
    }

    pub fn reset_stats(&mut self) {
        self.stats = PipeStats::default();
    }

    /// Puts on the line every queued frame whose turn came by `now`.
    fn advance(&mut self, now: Instant) {
        while let Some((offered, _)) = self.queue.front() {
            let start = self.line_free_at.max(*offered);
            if start > now {
                break;
            }
            let (offered, frame) = self.queue.pop_front().expect("front exists");
            self.queue_bytes -= frame.len();
            self.stats.max_queue_delay = self.stats.max_queue_delay.max(start - offered);
            self.line_free_at = start + self.config.serialization(frame.len());
            self.in_flight.push_back((self.line_free_at + self.config.delay, frame));
        }
    }

    /// Offers a frame at `now`; false when the queue was full and it was dropped.
    pub fn push(&mut self, now: Instant, frame: Vec<u8>) -> bool {
        self.advance(now);
        let len = frame.len();
        self.stats.frames_in += 1;
        self.stats.bytes_in += len as u64;
        let full = match self.config.queue {
            QueueLimit::Unlimited => false,
            QueueLimit::Packets(max) => self.queue.len() >= max,
            QueueLimit::Bytes(max) => self.queue_bytes + len > max,
        };
        // An idle line takes the frame at once: the queue limit applies to waiting frames.
        let line_idle = self.queue.is_empty() && self.line_free_at <= now;
        if full && !line_idle {
            self.stats.dropped += 1;
            self.stats.dropped_bytes += len as u64;
            return false;
        }
        self.queue.push_back((now, frame));
        self.queue_bytes += len;
        self.advance(now);
        self.stats.max_queue_frames = self.stats.max_queue_frames.max(self.queue.len());
        self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.queue_bytes);
        true
    }

    /// The next frame that has arrived by `now`.
    pub fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.advance(now);
        if self.in_flight.front()?.0 > now {
            return None;
        }
        let (_, frame) = self.in_flight.pop_front()?;
        self.stats.frames_out += 1;
        self.stats.bytes_out += frame.len() as u64;
        Some(frame)
    }

    /// When the next frame arrives (None: nothing queued or in flight).
    pub fn next_arrival(&self) -> Option<Instant> {
        if let Some((at, _)) = self.in_flight.front() {
            return Some(*at);
        }
        let (offered, frame) = self.queue.front()?;
        Some(self.line_free_at.max(*offered) + self.config.serialization(frame.len()) + self.config.delay)
    }
}

/// Statistics of both directions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Router to ISP (upload).
    pub up: PipeStats,
    /// ISP to router (download).
    pub down: PipeStats,
}

/// The link model, shared: the ISP's wire goes through it ([`LinkModel::shape`]) and the
/// test keeps a clone to read statistics or change the parameters while traffic flows.
#[derive(Clone)]
pub struct LinkModel {
    pipes: Arc<Mutex<(Pipe, Pipe)>>,
}

impl LinkModel {
    /// `up` carries the frames from the router to the ISP, `down` the other way.
    pub fn new(up: PipeConfig, down: PipeConfig) -> LinkModel {
        LinkModel { pipes: Arc::new(Mutex::new((Pipe::new(up), Pipe::new(down)))) }
    }

    /// The same parameters both ways.
    pub fn symmetric(config: PipeConfig) -> LinkModel {
        LinkModel::new(config, config)
    }

    /// Puts the model on the wire that leads to the router: what arrives from `wire` goes
    /// through `up`, what the ISP sends goes through `down`.
    pub fn shape<W: Wire>(&self, wire: W) -> Shaped<W> {
        Shaped { inner: wire, model: self.clone() }
    }

    pub fn stats(&self) -> ModelStats {
        let pipes = self.pipes.lock().unwrap();
        ModelStats { up: pipes.0.stats(), down: pipes.1.stats() }
    }

    pub fn reset_stats(&self) {
        let mut pipes = self.pipes.lock().unwrap();
        pipes.0.reset_stats();
        pipes.1.reset_stats();
    }

    pub fn set_up(&self, config: PipeConfig) {
        self.pipes.lock().unwrap().0.set_config(config);
    }

    pub fn set_down(&self, config: PipeConfig) {
        self.pipes.lock().unwrap().1.set_config(config);
    }
}

/// A wire through the link model (see [`LinkModel::shape`]).
pub struct Shaped<W> {
    inner: W,
    model: LinkModel,
}

impl<W: Wire> Shaped<W> {
    /// Moves frames: arrivals from the inner wire into `up`, due frames of `down` out.
    fn pump(&mut self, now: Instant, pipes: &mut (Pipe, Pipe)) {
        while let Some(frame) = self.inner.recv(now) {
            pipes.0.push(now, frame);
        }
        while let Some(frame) = pipes.1.pop(now) {
            self.inner.send(now, &frame);
        }
    }
}

impl<W: Wire> Wire for Shaped<W> {
    fn recv(&mut self, now: Instant) -> Option<Vec<u8>> {
        let model = self.model.clone();
        let mut pipes = model.pipes.lock().unwrap();
        self.pump(now, &mut pipes);
        pipes.0.pop(now)
    }

    fn send(&mut self, now: Instant, frame: &[u8]) {
        let model = self.model.clone();
        let mut pipes = model.pipes.lock().unwrap();
        pipes.1.push(now, frame.to_vec());
        self.pump(now, &mut pipes);
    }

    fn poll_at(&self, now: Instant) -> Option<Instant> {
        let pipes = self.model.pipes.lock().unwrap();
        [pipes.0.next_arrival(), pipes.1.next_arrival(), self.inner.poll_at(now)].into_iter().flatten().min()
    }

    fn fd(&self) -> Option<RawFd> {
        self.inner.fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn a_frame_takes_its_serialization_time_plus_the_delay() {
        // 1000 bytes at 8 Mbit/s = 1 ms on the line, then 10 ms of delay.
        let mut pipe = Pipe::new(PipeConfig::rate(8_000_000).delay(std::time::Duration::from_millis(10)));
        assert!(pipe.push(at(0), vec![0; 1000]));
        assert_eq!(pipe.next_arrival(), Some(at(11)));
        assert_eq!(pipe.pop(Instant::from_micros(10_999)), None);
        assert_eq!(pipe.pop(at(11)).map(|f| f.len()), Some(1000));
        assert_eq!(pipe.next_arrival(), None);
    }

    #[test]
    fn a_full_queue_drops_at_the_tail_and_queueing_delay_is_queue_over_rate() {
        // 1 ms per frame, 3 frames of queue: 5 frames at once -> 1 on the line, 3 queued,
        // 1 dropped; the last queued one waits 3 ms.
        let mut pipe = Pipe::new(PipeConfig::rate(8_000_000).queue_packets(3));
        let accepted: Vec<bool> = (0..5).map(|i| pipe.push(at(0), vec![i; 1000])).collect();
        assert_eq!(accepted, [true, true, true, true, false]);
        let s = pipe.stats();
        assert_eq!((s.dropped, s.max_queue_frames, s.queue_frames), (1, 3, 3));
        let arrivals: Vec<(i64, u8)> = (0..=4).filter_map(|ms| pipe.pop(at(ms)).map(|f| (ms, f[0]))).collect();
        assert_eq!(arrivals, [(1, 0), (2, 1), (3, 2), (4, 3)]);
        assert_eq!(pipe.stats().max_queue_delay, Duration::from_millis(3));
        assert_eq!(pipe.stats().frames_out, 4);
    }

    #[test]
    fn byte_limit_counts_bytes_waiting() {
        let mut pipe = Pipe::new(PipeConfig::rate(8_000_000).queue_bytes(2500));
        assert!(pipe.push(at(0), vec![0; 1000])); // on the line
        assert!(pipe.push(at(0), vec![0; 1000]));
        assert!(pipe.push(at(0), vec![0; 1000]));
        assert!(!pipe.push(at(0), vec![0; 1000]));
        assert!(pipe.push(at(0), vec![0; 500]));
        assert_eq!(pipe.stats().queue_bytes, 2500);
    }

    #[test]
    fn times_do_not_depend_on_when_the_pipe_is_polled() {
        let config = PipeConfig::rate(1_000_000).queue_packets(100).delay(std::time::Duration::from_millis(5));
        let offers: Vec<(i64, usize)> = (0..50).map(|i| (i * 3 / 2, 100 + (i as usize * 37) % 1400)).collect();
        let run = |step_us: i64| {
            let mut pipe = Pipe::new(config);
            let mut out = Vec::new();
            let mut next = 0;
            let mut t = 0;
            while out.len() < offers.len() {
                while next < offers.len() && offers[next].0 * 1000 <= t {
                    pipe.push(Instant::from_micros(offers[next].0 * 1000), vec![0; offers[next].1]);
                    next += 1;
                }
                while let Some(at) = pipe.next_arrival().filter(|a| a.total_micros() <= t) {
                    pipe.pop(Instant::from_micros(t)).unwrap();
                    out.push(at);
                }
                t += step_us;
            }
            (out, pipe.stats().max_queue_delay)
        };
        assert_eq!(run(1), run(1000));
    }
}
