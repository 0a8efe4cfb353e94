use super::*;

const DOWN: Limits = Limits { min_kbit: 2000, base_kbit: 10_000, max_kbit: 40_000 };
const UP: Limits = Limits { min_kbit: 400, base_kbit: 2000, max_kbit: 8000 };

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn r(d: u64, u: u64) -> Rates {
    Rates { download_kbit: d, upload_kbit: u }
}

#[test]
fn baselines_fall_fast_and_rise_slowly() {
    let t0 = Instant::now();
    let mut a = Autorate::new(Params::with_limits(DOWN, UP), t0);
    a.sample(1, 20.0, t0);
    assert_eq!(a.reflectors()[0].baseline_ms, [20.0; 2]);
    a.sample(1, 10.0, t0);
    assert!((a.reflectors()[0].baseline_ms[0] - 11.0).abs() < 1e-9, "{:?}", a.reflectors());
    a.sample(1, 111.0, t0);
    assert!((a.reflectors()[0].baseline_ms[0] - 11.1).abs() < 1e-9, "{:?}", a.reflectors());
    assert!((a.reflectors()[0].last_delta_ms[1] - 100.0).abs() < 1e-9);
    // Garbage is ignored.
    a.sample(1, f64::NAN, t0);
    a.sample(1, -1.0, t0);
    assert_eq!(a.reflectors().len(), 1);
}

#[test]
fn three_delayed_of_six_cut_the_loaded_direction_scaled_by_delay() {
    let t0 = Instant::now();
    let mut a = Autorate::new(Params::with_limits(DOWN, UP), t0);
    for i in 0..6 {
        a.sample(i, 10.0, t0);
    }
    assert!(!a.bufferbloat());
    a.sample(0, 45.0, t0);
    a.sample(1, 45.0, t0);
    assert!(!a.bufferbloat(), "2 of 6");
    a.sample(2, 200.0, t0);
    assert!(a.bufferbloat(), "3 of 6");
    // Download loaded (achieved 9000 of 10000), upload idle (100 of 2000): only download cut,
    // from the achieved rate.
    let (rates, why) = a.tick(t0 + ms(200), r(9000, 100)).unwrap();
    assert_eq!(why, Reason::Bufferbloat);
    assert_eq!(rates.upload_kbit, 2000);
    let f = rates.download_kbit as f64 / 9000.0;
    assert!((0.75..=0.99).contains(&f), "{rates:?}");
    // Refractory: nothing for 300 ms.
    assert_eq!(a.tick(t0 + ms(400), r(9000, 100)), None);
    let (again, _) = a.tick(t0 + ms(550), r(rates.download_kbit, 100)).unwrap();
    assert!(again.download_kbit < rates.download_kbit);
    // Never under the minimum.
    let mut t = t0 + ms(600);
    for _ in 0..100 {
        t += ms(400);
        a.sample(3, 300.0, t);
        a.tick(t, r(50_000, 5000));
    }
    assert_eq!(a.rates(), r(DOWN.min_kbit, UP.min_kbit));
}

#[test]
fn the_cut_is_largest_at_twice_the_threshold() {
    let t0 = Instant::now();
    let mut a = Autorate::new(Params::with_limits(DOWN, UP), t0);
    for _ in 0..50 {
        a.sample(0, 10.0, t0);
    }
    for _ in 0..60 {
        a.sample(0, 1000.0, t0); // delta EWMA far above 60 ms
    }
    let (rates, _) = a.tick(t0 + ms(10), r(10_000, 2000)).unwrap();
    assert_eq!(rates, r(7500, 1500), "x0.75");
}

#[test]
fn high_load_raises_up_to_the_maximum_and_idle_decays_to_base() {
    let t0 = Instant::now();
    let mut a = Autorate::new(Params::with_limits(DOWN, UP), t0);
    a.sample(0, 10.0, t0);
    let (rates, why) = a.tick(t0 + ms(200), r(9000, 1900)).unwrap();
    assert_eq!((rates, why), (r(10_400, 2080), Reason::HighLoad), "x1.04 with no delay");
    let mut t = t0 + ms(200);
    for _ in 0..200 {
        t += ms(200);
        a.sample(0, 10.0, t);
        let now = a.rates();
        a.tick(t, now);
    }
    assert_eq!(a.rates(), r(40_000, 8000), "capped at the maximum");
    // Idle: one step toward the base per second.
    let before = a.rates();
    let (after, why) = a.tick(t + ms(1000), r(0, 0)).unwrap();
    assert_eq!(why, Reason::Decay);
    assert_eq!(after, r(39_600, 7920));
    assert_eq!(a.tick(t + ms(1500), r(0, 0)), None, "decay refractory");
    assert!(after.download_kbit < before.download_kbit);
    let mut t = t + ms(1000);
    for _ in 0..2000 {
        t += ms(1000);
        a.sample(0, 10.0, t);
        a.tick(t, r(0, 0));
    }
    assert_eq!(a.rates(), r(DOWN.base_kbit, UP.base_kbit));
}

#[test]
fn no_answers_for_ten_seconds_drop_to_the_minimum_once() {
    let t0 = Instant::now();
    let mut a = Autorate::new(Params::with_limits(DOWN, UP), t0);
    a.sample(0, 10.0, t0);
    assert_eq!(a.tick(t0 + ms(9_900), r(0, 0)), None, "not stalled yet, and idle at the base rates: nothing to do");
    let (rates, why) = a.tick(t0 + ms(10_000), r(5000, 1000)).unwrap();
    assert_eq!((rates, why), (r(2000, 400), Reason::Stall));
    assert_eq!(a.tick(t0 + ms(11_000), r(5000, 1000)), None);
    // Answers again: back to normal decisions.
    a.sample(0, 10.0, t0 + ms(12_000));
    assert!(a.tick(t0 + ms(13_100), r(1900, 390)).is_some());
}

/// A bloated line: a FIFO whose delay grows while the shaper sends more than the line
/// carries and drains otherwise; probes at 20 Hz, decisions every 200 ms.
struct Line {
    capacity_kbit: u64,
    queue_ms: f64,
}

impl Line {
    fn step(&mut self, rate_kbit: u64, dt_ms: f64) -> u64 {
        let excess = rate_kbit as f64 / self.capacity_kbit as f64 - 1.0;
        self.queue_ms = (self.queue_ms + excess * dt_ms).clamp(0.0, 2000.0);
        rate_kbit.min(self.capacity_kbit)
    }
}

fn run(a: &mut Autorate, line: &mut Line, t: &mut Instant, secs: u64, mut each: impl FnMut(&Autorate, &Line, Duration)) {
    let start = *t;
    for step in 0..secs * 20 {
        *t += ms(50);
        let got = line.step(a.rates().download_kbit, 50.0);
        a.sample((step % 6) as u32, 20.0 + line.queue_ms, *t);
        if step % 4 == 3 {
            // Always loaded (a download saturating the shaper).
            a.tick(*t, r(got, a.rates().upload_kbit));
        }
        each(a, line, t.saturating_duration_since(start));
    }
}

#[test]
fn converges_from_too_high_follows_a_drop_and_climbs_back() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut a = Autorate::new(Params::with_limits(Limits { min_kbit: 2000, base_kbit: 40_000, max_kbit: 40_000 }, UP), t0);
    let mut line = Line { capacity_kbit: 20_000, queue_ms: 0.0 };
    let mut settled = None;
    run(&mut a, &mut line, &mut t, 10, |a, line, at| {
        if settled.is_none() && a.rates().download_kbit <= 20_000 && line.queue_ms < 30.0 {
            settled = Some(at);
        }
    });
    let settled = settled.expect("never settled");
    assert!(settled <= Duration::from_secs(2), "took {settled:?}");
    // The line drops to 10 Mbit/s.
    line.capacity_kbit = 10_000;
    let mut recovered = None;
    run(&mut a, &mut line, &mut t, 10, |a, line, at| {
        if recovered.is_none() && a.rates().download_kbit <= 10_000 && line.queue_ms < 30.0 {
            recovered = Some(at);
        }
    });
    assert!(recovered.expect("never recovered") <= Duration::from_secs(2), "{recovered:?}");
    // Back to 20: the rate climbs back to >= 80 % within 60 s.
    line.capacity_kbit = 20_000;
    let mut climbed = None;
    run(&mut a, &mut line, &mut t, 60, |a, _, at| {
        if climbed.is_none() && a.rates().download_kbit >= 16_000 {
            climbed = Some(at);
        }
    });
    assert!(climbed.is_some(), "stuck at {:?}", a.rates());
}

#[test]
fn dead_reflectors_are_replaced_round_robin_from_a_bounded_pool() {
    let t0 = Instant::now();
    let pool: Vec<Ipv4Addr> = (1..=40).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    let mut rs = Reflectors::new(&pool, 3, Duration::from_secs(3), t0);
    assert_eq!(rs.active(), pool[..3].to_vec());
    let probed: Vec<_> = (0..6).map(|_| rs.next_target().unwrap()).collect();
    assert_eq!(probed, [pool[1], pool[2], pool[0], pool[1], pool[2], pool[0]]);
    rs.on_reply(pool[0], t0 + ms(2500));
    rs.on_reply(pool[1], t0 + ms(2500));
    assert!(rs.maintain(t0 + ms(2900)).is_empty());
    // pool[2] never answered: replaced by the next of the pool.
    assert_eq!(rs.maintain(t0 + ms(3000)), [(pool[2], pool[3])]);
    assert_eq!(rs.active(), [pool[0], pool[1], pool[3]]);
    assert_eq!(rs.id(pool[31]), Some(31));
    assert_eq!(rs.id(pool[39]), None, "the pool is bounded");
    assert_eq!(rs.id(Ipv4Addr::new(192, 0, 2, 41)), None);
    // All silent for long: all replaced, wrapping around the pool (only the first 32 kept).
    let later = t0 + Duration::from_secs(100);
    assert_eq!(rs.maintain(later).len(), 3);
    let empty = Reflectors::new(&[], 3, Duration::from_secs(3), t0).next_target();
    assert_eq!(empty, None);
}

#[test]
fn one_way_delays_cut_only_the_direction_that_queues() {
    let t0 = Instant::now();
    let mut a = Autorate::new(Params::with_limits(DOWN, UP), t0);
    // One-way delays hold the clocks' offset: any numbers, negative too.
    for _ in 0..20 {
        a.sample_one_way(0, 5_006.0, -4_988.0, t0);
    }
    for _ in 0..6 {
        a.sample_one_way(0, 5_007.0, -4_900.0, t0); // the upload queues 88 ms more
    }
    assert!(a.bufferbloat_in(super::UP) && !a.bufferbloat_in(super::DOWN));
    assert!(a.reflectors()[0].one_way);
    // Both directions fully loaded: the upload is cut, the download still goes up.
    let (rates, reason) = a.tick(t0 + ms(10), r(10_000, 2000)).unwrap();
    assert_eq!(reason, Reason::Bufferbloat);
    assert!(rates.upload_kbit < 2000 && rates.download_kbit > 10_000, "{rates:?}");
    // 20 ms more each way: 40 ms on the round trip, charged to both.
    for _ in 0..6 {
        a.sample_one_way(0, 5_026.0, -4_968.0, t0);
    }
    assert!(a.bufferbloat_in(super::UP) && a.bufferbloat_in(super::DOWN));
    // 25 ms down, 10 ms up: the download carries the round trip's 35 ms, the upload only
    // its own 10.
    for _ in 0..6 {
        a.sample_one_way(0, 5_031.0, -4_978.0, t0);
    }
    assert!(!a.bufferbloat_in(super::UP) && a.bufferbloat_in(super::DOWN));
    // Round trips from the same reflector (it stopped answering timestamps) start its
    // baselines again.
    a.sample(0, 30.0, t0);
    assert_eq!(a.reflectors().len(), 1);
    assert_eq!(a.reflectors()[0].baseline_ms, [30.0; 2]);
    assert!(!a.reflectors()[0].one_way);
}
