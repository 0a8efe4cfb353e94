//! Rate adaptation for lines whose capacity varies (LTE, busy cable, Wi-Fi backhaul): the
//! decision logic as a pure state machine, no socket and no clock ([`Autorate`]: delay
//! samples per reflector, achieved rates and the time in; new shaper rates out), and the
//! bounded reflector set ([`Reflectors`]: which reflector to probe next, a dead one
//! replaced from the pool).
//!
//! The rules are cake-autorate's (lynxthecat/cake-autorate), compiled, with its defaults:
//!
//! - Each reflector has a *baseline* delay that follows slow drift: a sample below it pulls
//!   it down fast (alpha 0.9), one above it up slowly (alpha 0.001). A sample's *delta* is
//!   its delay minus the baseline; an EWMA of the deltas (alpha 0.095) scales adjustments.
//! - A sample is *delayed* when its delta exceeds `delay_threshold_ms` (30). *Bufferbloat*
//!   is at least `bloat_count` (3) delayed samples among the last `bloat_window` (6).
//! - Bufferbloat: the rate of each loaded direction is cut, from the lower of the shaped
//!   and the achieved rate, by a factor from 0.99 (delta at the threshold) to 0.75 (delta at
//!   `delay_max_ms`, 60, or more), never below the minimum; then nothing changes for
//!   `bloat_refractory_ms` (300).
//! - No bufferbloat and high load (achieved > `high_load` (0.75) of the shaped rate): up
//!   by a factor from 1.04 (no delay) to 1.0 (delay at the threshold), never above the
//!   maximum.
//! - No bufferbloat and low load: a step toward the base rate (x0.99 from above, x1.01 from
//!   below) at most every `decay_refractory_ms` (1000).
//! - No reflector answering for `stall_ms` (10 s): both directions at their minimum.
//!
//! Each direction decides on its own delays: with ICMP timestamps (RFC 792 types 13/14) a
//! probe gives the one-way delay of each direction, as cake-autorate's tsping pinger
//! does; the round trip's added delay (the sum) is charged to the direction(s) carrying at
//! least a third of it, the other keeps its own, so the round trip is held to the threshold
//! as with echo while only the queueing direction is cut; with ICMP echo the delay is a round trip, so it belongs to both directions (the
//! whole round trip: cake-autorate halves it and keeps its 30 ms threshold per direction,
//! sqmd holds the round trip to it, which cuts earlier) and the load decides which one is
//! cut (an unloaded direction is not the one queueing).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Per direction, kbit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub min_kbit: u64,
    pub base_kbit: u64,
    pub max_kbit: u64,
}

/// Every parameter, with cake-autorate's defaults ([`Params::with_limits`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub download: Limits,
    pub upload: Limits,
    pub delay_threshold_ms: f64,
    pub delay_max_ms: f64,
    pub bloat_window: usize,
    pub bloat_count: usize,
    pub high_load: f64,
    pub cut_min: f64,
    pub cut_max: f64,
    pub raise_max: f64,
    pub raise_min: f64,
    pub decay_down: f64,
    pub decay_up: f64,
    pub bloat_refractory: Duration,
    pub decay_refractory: Duration,
    pub stall: Duration,
    pub baseline_alpha_up: f64,
    pub baseline_alpha_down: f64,
    pub delta_alpha: f64,
}

impl Params {
    pub fn with_limits(download: Limits, upload: Limits) -> Params {
        Params {
            download,
            upload,
            delay_threshold_ms: 30.0,
            delay_max_ms: 60.0,
            bloat_window: 6,
            bloat_count: 3,
            high_load: 0.75,
            cut_min: 0.99,
            cut_max: 0.75,
            raise_max: 1.04,
            raise_min: 1.0,
            decay_down: 0.99,
            decay_up: 1.01,
            bloat_refractory: Duration::from_millis(300),
            decay_refractory: Duration::from_millis(1000),
            stall: Duration::from_secs(10),
            baseline_alpha_up: 0.001,
            baseline_alpha_down: 0.9,
            delta_alpha: 0.095,
        }
    }
}

/// The shaper rates, kbit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub download_kbit: u64,
    pub upload_kbit: u64,
}

/// One reflector's delay state, per direction (download, upload): with ICMP echo both are
/// the round trip; with ICMP timestamps the one-way delays (each with the constant offset
/// between the two clocks in it, which its baseline absorbs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReflectorDelay {
    pub id: u32,
    pub baseline_ms: [f64; 2],
    pub last_delta_ms: [f64; 2],
    /// Its samples are one-way delays (ICMP timestamp replies).
    pub one_way: bool,
}

/// Index of the download in the per-direction arrays.
pub const DOWN: usize = 0;
/// Index of the upload.
pub const UP: usize = 1;

/// Why the rates were set, for the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Bufferbloat,
    HighLoad,
    Decay,
    Stall,
}

/// The state machine. At most [`MAX_REFLECTORS`] reflectors' baselines are kept.
#[derive(Debug, Clone)]
pub struct Autorate {
    pub p: Params,
    rates: Rates,
    reflectors: Vec<ReflectorDelay>,
    /// Per direction, the last `bloat_window` samples: delayed or not.
    window: [Vec<bool>; 2],
    delta_ewma_ms: [f64; 2],
    last_sample: Instant,
    last_bloat_cut: [Option<Instant>; 2],
    last_change: Instant,
    stalled: bool,
}

/// The most reflectors whose state is kept (the pool's bound).
pub const MAX_REFLECTORS: usize = 32;

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

impl Autorate {
    /// Starts at the base rates.
    pub fn new(p: Params, now: Instant) -> Autorate {
        let rates = Rates { download_kbit: p.download.base_kbit, upload_kbit: p.upload.base_kbit };
        Autorate {
            window: [Vec::with_capacity(p.bloat_window), Vec::with_capacity(p.bloat_window)],
            p,
            rates,
            reflectors: Vec::new(),
            delta_ewma_ms: [0.0; 2],
            last_sample: now,
            last_bloat_cut: [None; 2],
            last_change: now,
            stalled: false,
        }
    }

    pub fn rates(&self) -> Rates {
        self.rates
    }

    pub fn reflectors(&self) -> &[ReflectorDelay] {
        &self.reflectors
    }

    /// The larger of the two directions' delay EWMAs.
    pub fn delta_ewma_ms(&self) -> f64 {
        self.delta_ewma_ms[DOWN].max(self.delta_ewma_ms[UP])
    }

    /// Probing starts again after a pause: the silence was ours, not a stall.
    pub fn resume(&mut self, now: Instant) {
        self.last_sample = now;
        self.window.iter_mut().for_each(Vec::clear);
    }

    /// Forgets a reflector (replaced in the set): its baseline would mislead a newcomer.
    pub fn forget(&mut self, id: u32) {
        self.reflectors.retain(|r| r.id != id);
    }

    /// Whether the last `bloat_window` samples of a direction hold `bloat_count` delayed ones.
    pub fn bufferbloat_in(&self, dir: usize) -> bool {
        self.window[dir].iter().filter(|d| **d).count() >= self.p.bloat_count
    }

    /// Bufferbloat in either direction.
    pub fn bufferbloat(&self) -> bool {
        self.bufferbloat_in(DOWN) || self.bufferbloat_in(UP)
    }

    /// A round-trip sample (ms, ICMP echo) from reflector `id`: the delay of both
    /// directions (the load decides which one is cut).
    pub fn sample(&mut self, id: u32, delay_ms: f64, now: Instant) {
        if !delay_ms.is_finite() || delay_ms < 0.0 {
            return;
        }
        self.record(id, [delay_ms; 2], false, now);
    }

    /// One-way samples (ms, ICMP timestamp: reflector's receive time - our send time, our
    /// receive time - reflector's send time) from reflector `id`. The clocks' offset makes
    /// them any number, negative too; only their change over the baseline counts.
    pub fn sample_one_way(&mut self, id: u32, down_ms: f64, up_ms: f64, now: Instant) {
        if !down_ms.is_finite() || !up_ms.is_finite() {
            return;
        }
        self.record(id, [down_ms, up_ms], true, now);
    }

    fn record(&mut self, id: u32, delay_ms: [f64; 2], one_way: bool, now: Instant) {
        self.last_sample = now;
        self.stalled = false;
        let r = match self.reflectors.iter_mut().position(|r| r.id == id && r.one_way == one_way) {
            Some(i) => &mut self.reflectors[i],
            None => {
                // A reflector whose kind of probe changed starts again.
                self.reflectors.retain(|r| r.id != id);
                if self.reflectors.len() >= MAX_REFLECTORS {
                    self.reflectors.remove(0);
                }
                // The first sample is the baseline.
                self.reflectors.push(ReflectorDelay { id, baseline_ms: delay_ms, last_delta_ms: [0.0; 2], one_way });
                self.reflectors.last_mut().expect("just pushed")
            }
        };
        let mut delta = [0.0; 2];
        for dir in [DOWN, UP] {
            let d = delay_ms[dir] - r.baseline_ms[dir];
            let alpha = if d < 0.0 { self.p.baseline_alpha_down } else { self.p.baseline_alpha_up };
            r.baseline_ms[dir] += alpha * (delay_ms[dir] - r.baseline_ms[dir]);
            delta[dir] = d.max(0.0);
            r.last_delta_ms[dir] = delta[dir];
        }
        // What each direction is charged with: one way, the round trip's added delay (the
        // sum of both) goes to the direction(s) carrying at least a third of it, the other
        // keeps its own; so the round trip is held to the threshold as with echo, and only
        // the queueing direction is cut.
        let total = delta[DOWN] + delta[UP];
        for dir in [DOWN, UP] {
            let charged = if one_way && 3.0 * delta[dir] >= total { total } else { delta[dir] };
            self.delta_ewma_ms[dir] += self.p.delta_alpha * (charged - self.delta_ewma_ms[dir]);
            let w = &mut self.window[dir];
            if w.len() >= self.p.bloat_window.max(1) {
                w.remove(0);
            }
            w.push(charged > self.p.delay_threshold_ms);
        }
    }

    /// The decision at time `now` with the achieved rates (kbit/s, from the interface
    /// counters): the new rates and why, if they changed.
    pub fn tick(&mut self, now: Instant, achieved: Rates) -> Option<(Rates, Reason)> {
        let p = &self.p;
        let before = self.rates;
        if now.saturating_duration_since(self.last_sample) >= p.stall {
            if self.stalled {
                return None;
            }
            self.stalled = true;
            self.rates = Rates { download_kbit: p.download.min_kbit, upload_kbit: p.upload.min_kbit };
            self.last_change = now;
            return (self.rates != before).then_some((self.rates, Reason::Stall));
        }
        let dirs = [(self.rates.download_kbit, achieved.download_kbit, p.download), (self.rates.upload_kbit, achieved.upload_kbit, p.upload)];
        let mut out = [before.download_kbit, before.upload_kbit];
        let decay_due = now.saturating_duration_since(self.last_change) >= p.decay_refractory;
        let (mut cut, mut high) = (false, false);
        // Each direction on its own delays (the same round trips for both with echo).
        for (i, (rate, got, lim)) in dirs.into_iter().enumerate() {
            if self.last_bloat_cut[i].is_some_and(|t| now.saturating_duration_since(t) < p.bloat_refractory) {
                continue;
            }
            let ewma = self.delta_ewma_ms[i];
            if self.window[i].iter().filter(|d| **d).count() >= p.bloat_count {
                if got.saturating_mul(4) < rate {
                    continue; // a direction under 25 % load is not the one queueing
                }
                let scale = clamp01((ewma - p.delay_threshold_ms) / (p.delay_max_ms - p.delay_threshold_ms).max(1e-9));
                let factor = p.cut_min - (p.cut_min - p.cut_max) * scale;
                let from = if got > 0 { rate.min(got) } else { rate };
                out[i] = ((from as f64 * factor) as u64).clamp(lim.min_kbit, lim.max_kbit);
                self.last_bloat_cut[i] = Some(now);
                cut = true;
            } else if got as f64 > p.high_load * rate as f64 {
                let scale = clamp01(ewma / p.delay_threshold_ms.max(1e-9));
                let raise = p.raise_max - (p.raise_max - p.raise_min) * scale;
                high = true;
                out[i] = ((rate as f64 * raise).ceil() as u64).clamp(lim.min_kbit, lim.max_kbit);
            } else if decay_due {
                out[i] = if rate > lim.base_kbit {
                    ((rate as f64 * p.decay_down) as u64).max(lim.base_kbit)
                } else if rate < lim.base_kbit {
                    ((rate as f64 * p.decay_up).ceil() as u64).min(lim.base_kbit)
                } else {
                    rate
                };
            }
        }
        let reason = if cut {
            Reason::Bufferbloat
        } else if high {
            Reason::HighLoad
        } else {
            Reason::Decay
        };
        self.rates = Rates { download_kbit: out[0], upload_kbit: out[1] };
        if self.rates == before {
            return None;
        }
        self.last_change = now;
        Some((self.rates, reason))
    }
}

/// The reflectors probed: at most `active` of the pool at a time, round robin; one that
/// has not answered for `dead_after` while probed is replaced by the next of the pool that
/// is not active.
#[derive(Debug, Clone)]
pub struct Reflectors {
    pool: Vec<Ipv4Addr>,
    active: Vec<Active>,
    next_pool: usize,
    turn: usize,
    dead_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    addr: Ipv4Addr,
    since: Instant,
    last_reply: Option<Instant>,
}

impl Reflectors {
    /// The pool is cut to [`MAX_REFLECTORS`].
    pub fn new(pool: &[Ipv4Addr], active: usize, dead_after: Duration, now: Instant) -> Reflectors {
        let pool: Vec<Ipv4Addr> = pool.iter().copied().take(MAX_REFLECTORS).collect();
        let n = active.clamp(1, pool.len().max(1)).min(pool.len());
        let active = pool[..n].iter().map(|&addr| Active { addr, since: now, last_reply: None }).collect();
        Reflectors { next_pool: n % pool.len().max(1), pool, active, turn: 0, dead_after }
    }

    /// The id of an address: its place in the pool.
    pub fn id(&self, addr: Ipv4Addr) -> Option<u32> {
        self.pool.iter().position(|a| *a == addr).map(|i| i as u32)
    }

    pub fn active(&self) -> Vec<Ipv4Addr> {
        self.active.iter().map(|a| a.addr).collect()
    }

    /// The next one to probe.
    pub fn next_target(&mut self) -> Option<Ipv4Addr> {
        if self.active.is_empty() {
            return None;
        }
        self.turn = (self.turn + 1) % self.active.len();
        Some(self.active[self.turn].addr)
    }

    pub fn on_reply(&mut self, addr: Ipv4Addr, now: Instant) {
        if let Some(a) = self.active.iter_mut().find(|a| a.addr == addr) {
            a.last_reply = Some(now);
        }
    }

    /// Replaces the dead ones; returns (dead, replacement) pairs.
    pub fn maintain(&mut self, now: Instant) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        let mut replaced = Vec::new();
        for i in 0..self.active.len() {
            let a = self.active[i];
            let silent_since = a.last_reply.unwrap_or(a.since);
            if now.saturating_duration_since(silent_since) < self.dead_after {
                continue;
            }
            // The next pool entry that is not active.
            let Some(k) = (0..self.pool.len()).map(|k| (self.next_pool + k) % self.pool.len()).find(|&k| self.active.iter().all(|x| x.addr != self.pool[k]))
            else {
                continue;
            };
            self.next_pool = (k + 1) % self.pool.len();
            let new = self.pool[k];
            self.active[i] = Active { addr: new, since: now, last_reply: None };
            replaced.push((a.addr, new));
        }
        replaced
    }
}

#[cfg(test)]
mod tests;
