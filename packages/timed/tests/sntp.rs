//! timed's SNTP exchange against a real NTP server: chrony's chronyd (Debian: chrony) in a
//! network namespace, serving its host clock (`local stratum 8`, `-x`: it never touches the
//! clock). Needs root, `ip` and chronyd; without them the test is skipped, or fails under
//! OXWRT_STRICT_TESTS=1 (oxwrt_testkit).
//!
//! A second chronyd runs under libfaketime (Debian: faketime) with its clock 20 years
//! behind: a real server that is wrong, whose answer timed must refuse ([`timed::judge`]).
//!
//! The daemon itself (setting the clock, the floor, the saved time) runs only in a booted
//! image (xtask/tests/lab.rs): here it would set this host's clock.

use oxwrt_testkit::netns::{wait_for, Netns};
use oxwrt_testkit::Prereq;
use std::net::SocketAddr;
use std::time::Duration;
use timed::sntp::{query, query_any, Skewed, SystemClock};

const LIMIT: Duration = Duration::from_secs(1);

#[test]
fn offsets_and_failures_against_chronyd() {
    if !oxwrt_testkit::require_all(&[
        Prereq::Root,
        Prereq::program("ip", "apt-get install iproute2"),
        Prereq::program("chronyd", "apt-get install chrony"),
        Prereq::program("faketime", "apt-get install faketime"),
    ]) {
        return;
    }
    let ns = Netns::new("timed-sntp");
    let dir = std::env::temp_dir().join(format!("timed-sntp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("chrony.conf");
    std::fs::write(&conf, format!("local stratum 8\nallow all\nbindaddress 127.0.0.1\nport 123\ncmdport 0\npidfile {}\n", dir.join("chronyd.pid").display()))
        .unwrap();
    let _chronyd = ns.exec(&["chronyd", "-d", "-x", "-u", "root", "-f", &conf.display().to_string()]);
    let server: SocketAddr = "127.0.0.1:123".parse().unwrap();
    let wrong_conf = dir.join("wrong.conf");
    std::fs::write(
        &wrong_conf,
        format!("local stratum 8\nallow all\nbindaddress 127.0.0.1\nport 1123\ncmdport 0\npidfile {}\n", dir.join("wrong.pid").display()),
    )
    .unwrap();
    let _wrong = ns.exec(&["faketime", "-f", "-20y", "chronyd", "-d", "-x", "-u", "root", "-f", &wrong_conf.display().to_string()]);
    let wrong: SocketAddr = "127.0.0.1:1123".parse().unwrap();

    let r = ns.run(move || {
        // chronyd answers once it has read its configuration.
        let first = wait_for(Duration::from_secs(10), || query(server, LIMIT, SystemClock).ok());
        let first = first.expect("chronyd did not answer within 10 s");
        let ahead = query(server, LIMIT, Skewed(1_000_000_000)).expect("skewed +1000 s");
        let behind = query(server, LIMIT, Skewed(-3_600_000_000)).expect("skewed -3600 s");
        let refused = query("127.0.0.1:124".parse().unwrap(), LIMIT, SystemClock).unwrap_err();
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let no_answer = query(silent_addr, LIMIT, SystemClock).unwrap_err();
        let fallback = query_any(&[silent_addr, server], LIMIT, SystemClock).map(|(a, _)| a);
        let wrong = wait_for(Duration::from_secs(10), || query(wrong, LIMIT, SystemClock).ok()).expect("the wrong chronyd did not answer within 10 s");
        (first, ahead, behind, refused, no_answer, fallback, wrong)
    });
    let (first, ahead, behind, refused, no_answer, fallback, wrong) = r;
    // Same clock on both sides: the offset is the measurement's noise.
    assert!(first.offset_us.abs() < 50_000, "{first:?}");
    assert_eq!(first.stratum, 8, "chronyd's `local stratum 8`: {first:?}");
    assert!(first.delay_us < 100_000, "{first:?}");
    // A clock 1000 s ahead must go back 1000 s; one an hour behind, forward an hour.
    assert!((ahead.offset_us + 1_000_000_000).abs() < 50_000, "{ahead:?}");
    assert!((behind.offset_us - 3_600_000_000).abs() < 50_000, "{behind:?}");
    assert!(refused.contains("refused"), "{refused}");
    assert!(no_answer.contains("no answer within 1 s"), "{no_answer}");
    assert_eq!(fallback, Ok(server), "the second address answers when the first is silent");
    // Its transmit time is 20 years behind (the kernel's receive timestamp is not: the
    // measured offset is years, whatever the mix): before this build, refused.
    assert!(wrong.offset_us < -5 * 365 * 86400 * 1_000_000, "{wrong:?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let why = timed::judge(now, wrong.offset_us, now - 86400).unwrap_err();
    assert!(why.contains("before this image was built"), "{why}");
    assert_eq!(timed::judge(now, first.offset_us, now - 86400), Ok(()));
    let _ = std::fs::remove_dir_all(&dir);
}
