//! The link model between two smoltcp stacks on a virtual clock (no threads, no QEMU):
//! what goes through it leaves at the configured rate, a full queue drops, and under load
//! the queueing delay grows to queue / rate. Deterministic: the clock is a counter.

use nettest::smoltcp::iface::SocketHandle;
use nettest::smoltcp::socket::{tcp, udp};
use nettest::smoltcp::time::{Duration, Instant};
use nettest::smoltcp::wire::{EthernetAddress, IpEndpoint, Ipv4Address};
use nettest::{cable, HostConfig, LinkModel, PipeConfig, Stack};

const ROUTER: Ipv4Address = Ipv4Address::new(203, 0, 113, 10);
const ISP: Ipv4Address = Ipv4Address::new(203, 0, 113, 1);
const STEP: Duration = Duration::from_micros(100);

/// The router side and the ISP side (behind the model) on one virtual clock.
struct Sim {
    router: Stack,
    isp: Stack,
    now: Instant,
}

impl Sim {
    fn new(model: &LinkModel) -> Sim {
        let (router_end, isp_end) = cable();
        let now = Instant::ZERO;
        let router = Stack::new(router_end, HostConfig::new("router", EthernetAddress([2, 0, 0, 0, 0, 10])).with_address(ROUTER, 24), now);
        let isp = Stack::new(model.shape(isp_end), HostConfig::new("isp", EthernetAddress([2, 0, 0, 0, 0, 1])).with_address(ISP, 24), now);
        Sim { router, isp, now }
    }

    fn step(&mut self) {
        self.now += STEP;
        self.router.poll(self.now);
        self.isp.poll(self.now);
    }
}

fn udp_socket(stack: &mut Stack, port: u16) -> SocketHandle {
    let mut s = udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 256], vec![0; 256 * 1100]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 256], vec![0; 256 * 1100]),
    );
    s.bind(port).unwrap();
    stack.sockets.add(s)
}

/// 1000-byte datagrams are 1042-byte frames (UDP 8, IPv4 20, Ethernet 14).
const FRAME: u64 = 1042;

#[test]
fn udp_beyond_the_rate_leaves_at_the_rate_with_drops_and_queue_over_rate_delay() {
    // 8 Mbit/s up, 50 packets of queue, 20 ms; offered: 16 Mbit/s for 3 s.
    let model = LinkModel::new(PipeConfig::rate(8_000_000).queue_packets(50).delay(std::time::Duration::from_millis(20)), PipeConfig::default());
    let mut sim = Sim::new(&model);
    let tx = udp_socket(&mut sim.router, 5000);
    let rx = udp_socket(&mut sim.isp, 5001);
    let to = IpEndpoint::new(ISP.into(), 5001);
    let (mut next_send, mut sent, mut received) = (Instant::ZERO, 0u64, Vec::new());
    while sim.now < Instant::from_secs(4) {
        while sim.now < Instant::from_secs(3) && next_send <= sim.now {
            sim.router.sockets.get_mut::<udp::Socket>(tx).send_slice(&[0x55; 1000], to).unwrap();
            sent += 1;
            next_send += Duration::from_micros(FRAME * 8 / 16); // 16 Mbit/s
        }
        sim.step();
        while let Ok((data, _)) = sim.isp.sockets.get_mut::<udp::Socket>(rx).recv() {
            assert_eq!(data.len(), 1000);
            received.push(sim.now);
        }
    }
    let stats = model.stats().up;
    // The first datagram waits for ARP (which goes through the model too).
    assert_eq!(stats.frames_out as usize, received.len() + 1, "{stats:?}");
    assert_eq!(stats.frames_in, sent + 1, "{stats:?}");
    assert_eq!(stats.dropped, stats.frames_in - stats.frames_out, "{stats:?}");
    assert!(stats.dropped > sent * 4 / 10, "about half must be dropped: {stats:?}");

    // Steady state, 1 s to 3 s: one frame per 1042 us = 959.7 frames/s = 8 Mbit/s of frames.
    let steady = received.iter().filter(|t| **t >= Instant::from_secs(1) && **t < Instant::from_secs(3)).count() as u64;
    let rate = steady * FRAME * 8 / 2;
    assert!(rate.abs_diff(8_000_000) < 8_000_000 / 200, "{rate} bit/s");

    // A full queue of 50 frames ahead: 50 * 1042 us.
    assert_eq!(stats.max_queue_frames, 50);
    let expected = Duration::from_micros(50 * FRAME);
    assert!(stats.max_queue_delay <= expected && stats.max_queue_delay + Duration::from_millis(1) >= expected, "{:?} vs {expected:?}", stats.max_queue_delay);
    // Nothing left behind, and the other direction only carried the ARP reply.
    assert_eq!((stats.queue_frames, model.stats().down.frames_out), (0, 1));
}

#[test]
fn a_tcp_upload_fills_the_line_and_the_queue() {
    // 4 Mbit/s, 30 packets of queue, 10 ms each way; an upload with a window far larger than
    // the queue (Reno): the line stays busy and the queue fills up to its limit.
    let up = PipeConfig::rate(4_000_000).queue_packets(30).delay(std::time::Duration::from_millis(10));
    let down = PipeConfig::rate(4_000_000).delay(std::time::Duration::from_millis(10));
    let model = LinkModel::new(up, down);
    let mut sim = Sim::new(&model);
    let mut server = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 512 * 1024]), tcp::SocketBuffer::new(vec![0; 4096]));
    server.listen(5001).unwrap();
    let server = sim.isp.sockets.add(server);
    let mut client = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 4096]), tcp::SocketBuffer::new(vec![0; 512 * 1024]));
    client.set_congestion_control(tcp::CongestionControl::Reno);
    client.connect(sim.router.iface.context(), (ISP, 5001), 40000).unwrap();
    let client = sim.router.sockets.add(client);

    let (mut received, mut at_2s) = (0u64, None);
    while sim.now < Instant::from_secs(6) {
        let c = sim.router.sockets.get_mut::<tcp::Socket>(client);
        if c.may_send() {
            while c.send_slice(&[0xaa; 8192]).is_ok_and(|n| n > 0) {}
        }
        sim.step();
        let s = sim.isp.sockets.get_mut::<tcp::Socket>(server);
        while s.can_recv() {
            received += s.recv(|b| (b.len(), b.len() as u64)).unwrap();
        }
        if at_2s.is_none() && sim.now >= Instant::from_secs(2) {
            at_2s = Some((received, model.stats().up));
        }
    }
    let (received_2s, up_2s) = at_2s.unwrap();
    let up = model.stats().up;
    // Slow start overshoots the queue, and smoltcp recovers from that burst of losses by
    // a retransmission timeout (1 s). From 2 s to 6 s, in the steady state, the line carries
    // 4 Mbit/s of frames and the receiver gets most of it as data (1460 of 1514 bytes).
    let line = (up.bytes_out - up_2s.bytes_out) * 8 / 4;
    assert!(line.abs_diff(4_000_000) < 4_000_000 / 100, "line {line} bit/s, {up:?}");
    let goodput = (received - received_2s) * 8 / 4;
    assert!(goodput > 3_700_000, "goodput {goodput} bit/s, {up:?}");
    // Under load the queue fills: the longest wait is the whole queue, 30 * 1514 bytes at
    // 4 Mbit/s = 90.8 ms.
    assert_eq!(up.max_queue_frames, 30, "{up:?}");
    let full = PipeConfig::rate(4_000_000).serialization(1514) * 30;
    assert!(up.max_queue_delay + Duration::from_millis(4) >= full && up.max_queue_delay <= full, "{:?} vs {full:?}", up.max_queue_delay);
    assert!(up.dropped > 0, "a tail-drop queue smaller than the window drops: {up:?}");
}
