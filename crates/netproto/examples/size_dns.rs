//! Size measurement (see the crate docs): parse a DNS query from stdin, write an A answer
//! for each question. `cargo run --example size_dns < fuzz/corpus/dns_parse/dig-query`
use netproto::dns::{Message, Name, RData, Record};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
fn main() {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).unwrap();
    let p = match Message::parse(&buf) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bad: {e}");
            std::process::exit(1)
        }
    };
    let min_ttl = p.answers.iter().map(|a| a.ttl).min();
    let mut r = p.response();
    for q in &p.questions {
        r.answers.push(Record::new(q.name.clone(), 60, RData::A(Ipv4Addr::new(192, 168, 1, 100))));
    }
    let _ = Name::from_ascii("x.lan");
    let out = r.encode().unwrap();
    std::io::stdout().write_all(&out).unwrap();
    eprintln!("{min_ttl:?}");
}
