//! Host tools the commands and steps drive: [`exec`] (external commands, logged),
//! [`bufferbloat`] (latency under load and sqmd's cost, for the SQM test and benchmark),
//! [`lab`] (booted routers in network namespaces with real peers, for tests and benchmarks)
//! and [`load`] (bounded DNS and DHCP load for them),
//! [`qemu`] (command lines for a board's images), [`tftp`] (a TFTP client for
//! bootloader recovery), [`webdriver`] (a headless browser in the lab, for the web UI)
//! and [`wireguard`] (road warriors with the real WireGuard tools, and readers of
//! `vpn add-peer`'s output). They run nothing of the pipeline; qemu only finds a board's
//! images where [`crate::steps::image`] puts them.

pub mod bufferbloat;
pub mod exec;
pub mod lab;
pub mod load;
pub mod qemu;
pub mod tftp;
pub mod webdriver;
pub mod wireguard;
