use super::*;

fn problems(text: &str) -> Vec<String> {
    Sqm::parse(text).expect_err("should be refused").iter().map(|p| p.to_string()).collect()
}

#[test]
fn missing_file_is_off_with_ethernet_and_internet_defaults() {
    let s = Sqm::parse("").unwrap();
    assert_eq!(s, Sqm::default());
    assert!(!s.enabled);
    let sh = s.shaping().unwrap();
    assert_eq!((sh.download_kbit, sh.upload_kbit, sh.overhead, sh.mpu, sh.framing, sh.rtt_us), (0, 0, 38, 84, Framing::None, 100_000));
    assert_eq!(s.interface_or("eth0.1"), "eth0.1");
}

#[test]
fn every_key_parses_into_the_shaper_numbers() {
    let text = "enabled = true\ninterface = \"eth9\"\ndownload_kbit = 9500\nupload_kbit = 1900\noverhead = \"pppoe-ptm\"\ndiffserv = \"diffserv4\"\nnat = false\nwash = true\nack_filter = true\nrtt = 30\n[autorate]\nenabled = true\nreflectors = [\"192.0.2.1\"]\npingers = 1\nupload_max_kbit = 4000\n";
    let s = Sqm::parse(text).unwrap();
    assert_eq!(s.interface_or("eth0"), "eth9");
    let (down, up) = s.autorate.limits(9500, 1900);
    assert_eq!((down.min_kbit, down.base_kbit, down.max_kbit), (2375, 9500, 9500));
    assert_eq!((up.min_kbit, up.base_kbit, up.max_kbit), (475, 1900, 4000));
    assert_eq!(s.autorate.reflectors, [std::net::Ipv4Addr::new(192, 0, 2, 1)]);
    let sh = s.shaping().unwrap();
    assert_eq!(
        sh,
        Shaping {
            download_kbit: 9500,
            upload_kbit: 1900,
            overhead: 30,
            mpu: 0,
            framing: Framing::Ptm,
            diffserv: Diffserv::Diffserv4,
            nat: false,
            wash: true,
            ack_filter: true,
            rtt_us: 30_000
        }
    );
    // Custom numbers: framing and mpu of one's own.
    let s = Sqm::parse("overhead = 44\nmpu = 96\nframing = \"atm\"\nrtt = \"satellite\"\n").unwrap();
    let sh = s.shaping().unwrap();
    assert_eq!((sh.overhead, sh.mpu, sh.framing, sh.rtt_us), (44, 96, Framing::Atm, 1_000_000));
    // A preset's mpu can be overridden.
    assert_eq!(Sqm::parse("overhead = \"docsis\"\nmpu = 0\n").unwrap().shaping().unwrap().mpu, 0);
}

#[test]
fn presets_have_their_documented_numbers() {
    for (name, o, m, f) in OVERHEAD_PRESETS {
        let sh = Sqm::parse(&format!("overhead = \"{name}\"\n")).unwrap().shaping().unwrap();
        assert_eq!((sh.overhead, sh.mpu, sh.framing), (*o, *m, *f), "{name}");
    }
    for (name, ms) in RTT_PRESETS {
        assert_eq!(Sqm::parse(&format!("rtt = \"{name}\"\n")).unwrap().shaping().unwrap().rtt_us, ms * 1000, "{name}");
    }
}

#[test]
fn errors_name_the_file_line_and_key_and_say_what_to_do() {
    assert_eq!(
        problems("enabled = true\ndownload_kbit = -5\nupload_kbit = 1000\n"),
        ["sqm.toml:2:1: download_kbit: -5 is negative; write the rate in kbit/s (e.g. 9500 for 9.5 Mbit/s), or 0 to leave this direction unshaped"]
    );
    let p = problems("upload_kbit = 100\noverhead = \"adsl\"\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("sqm.toml:2:1: overhead: unknown preset \"adsl\"; use one of \"ethernet\", \"docsis\""), "{p:?}");
    let p = problems("rtt = \"moon\"\n");
    assert!(p[0].starts_with("sqm.toml:1:1: rtt: unknown preset \"moon\""), "{p:?}");
    let p = problems("rtt = 0\n");
    assert!(p[0].starts_with("sqm.toml:1:1: rtt: 0 ms is out of range"), "{p:?}");
    let p = problems("overhead = 300\n");
    assert!(p[0].starts_with("sqm.toml:1:1: overhead: 300 bytes is out of range"), "{p:?}");
    let p = problems("overhead = \"docsis\"\nframing = \"atm\"\n");
    assert!(p[0].starts_with("sqm.toml:2:1: framing: set by the overhead preset"), "{p:?}");
    let p = problems("overhead = 10\nframing = \"cells\"\n");
    assert!(p[0].starts_with("sqm.toml:2:1: framing: unknown framing \"cells\""), "{p:?}");
    let p = problems("mpu = 1000\n");
    assert!(p[0].starts_with("sqm.toml:1:1: mpu: 1000 is out of range"), "{p:?}");
    let p = problems("interface = \"a-very-long-nic\"\n");
    assert!(p[0].starts_with("sqm.toml:1:1: interface: `a-very-long-nic` is 15 characters long; sqmd names its IFB device"), "{p:?}");
    let p = problems("interface = \"eth/0\"\n");
    assert!(p[0].contains("interface: `eth/0` contains '/'"), "{p:?}");
    let p = problems("enabled = true\n");
    assert!(p[0].starts_with("sqm.toml:1:1: enabled: true, but download_kbit and upload_kbit are both 0"), "{p:?}");
    let p = problems("upload_kbit = 100\n[autorate]\nenabled = true\n");
    assert!(p[0].starts_with("sqm.toml:3:1: autorate.enabled: autorate adapts both directions"), "{p:?}");
    let p = problems("download_kbit = 100\nupload_kbit = 100\n[autorate]\nbloat_count = 7\ncut_max_percent = 150\ndownload_max_kbit = 50\nreflectors = []\n");
    assert_eq!(p.len(), 5, "{p:?}");
    assert!(p.iter().any(|p| p.starts_with("sqm.toml:4:1: autorate.bloat_count: 7 is out of range; use 1 to bloat_window (6)")), "{p:?}");
    assert!(p.iter().any(|p| p.starts_with("sqm.toml:6:1: autorate.download_max_kbit: 50 is below the base rate 100")), "{p:?}");
    assert!(p.iter().any(|p| p.starts_with("sqm.toml:7:1: autorate.reflectors: 0 reflectors")), "{p:?}");
    // Several problems at once.
    assert_eq!(problems("download_kbit = -1\nupload_kbit = -2\n").len(), 2);
}

#[test]
fn parse_errors_are_located_and_point_to_the_sqm_docs() {
    let p = problems("enabled = true\nspeed = 5\n");
    assert!(p[0].starts_with("sqm.toml:2:1: speed: unknown field `speed`") && p[0].ends_with("(every key is described in docs/sqm.md)"), "{p:?}");
    let p = problems("diffserv = \"diffserv5\"\n");
    assert!(p[0].starts_with("sqm.toml:1:12: diffserv: unknown variant `diffserv5`"), "{p:?}");
    let p = problems("enabled = yes\n");
    assert!(p[0].starts_with("sqm.toml:1:"), "{p:?}");
}

#[test]
fn saves_atomically_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Sqm::load(dir.path()).unwrap(), Sqm::default());
    let s = Sqm { enabled: true, download_kbit: 9500, upload_kbit: 1900, overhead: Overhead::Bytes(18), ..Sqm::default() };
    s.save(dir.path()).unwrap();
    assert_eq!(Sqm::load(dir.path()).unwrap(), s);
    let bad = Sqm { upload_kbit: -1, ..s.clone() };
    assert!(matches!(bad.save(dir.path()), Err(crate::Error::Invalid(_))));
    assert_eq!(Sqm::load(dir.path()).unwrap(), s, "a refused save leaves the file as it was");
}
