//! Whole-stack loopback benchmark (see `docs/performance.md`; run with
//! `scripts/bench-loopback.sh`). A plain `main` that prints one table: these
//! are throughput and latency figures of the real shell over real loopback
//! sockets, not micro-benchmarks, so criterion's sampling does not apply.
//!
//! Every figure is printed as a ratio to its bare baseline measured in the
//! same run, for three ways of running a link:
//!
//! * (i) **smol driver**: `RelayLink::spawn`, the driver on smol's global
//!   executor;
//! * (ii) **own executor**: `RelayLink::new`, the `LinkDriver` spawned on
//!   the bench's own executor (a `LocalExecutor` on the calling thread) or
//!   `block_on`'d on a thread of its own;
//! * (iii) **tokio** (feature `tokio`): `Runtime::Tokio`, the driver a task
//!   on a tokio runtime, against a bare tokio-tungstenite client.
//!
//! Sections ([`inbound`], [`round_trips`], [`memory`], [`reconnect`]):
//! (a) inbound frames per second to the application, (b) round trips per
//! second at 1 and 64 in flight with context switches per round trip,
//! (c) RSS and live heap per idle handshaken link with 1,000 links,
//! (d) reconnect latency beyond the backoff. Each module says how.
//!
//! Every figure also goes out as a `result key=value …` line, which the
//! script reads. Roles: the binary re-executes itself with
//! `RELAY_LINK_BENCH_ROLE` set to run the memory measurements and their
//! connector in fresh processes. `RELAY_LINK_BENCH_PROFILE=<workload>`
//! repeats one workload for a profiler instead ([`profile`]).

mod alloc;
mod bare;
mod common;
mod drive;
mod inbound;
mod memory;
mod profile;
mod reconnect;
mod round_trips;
mod server;
#[cfg(feature = "tokio")]
mod tokio_side;

use std::time::Instant;

use common::load_average;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The environment variable that selects a child role.
pub const ROLE: &str = "RELAY_LINK_BENCH_ROLE";
/// The environment variable that selects a profiling workload.
pub const PROFILE: &str = "RELAY_LINK_BENCH_PROFILE";

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("connector") => return memory::connector_role(),
        Ok(role) if role.starts_with("memory-") => {
            return memory::memory_role(&role["memory-".len()..])
        }
        _ => {}
    }
    if let Ok(workload) = std::env::var(PROFILE) {
        return profile::run(&workload);
    }
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    println!(
        "relay-link loopback benchmark ({} cores, SMOL_THREADS={}, tokio side {}, load {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::var("SMOL_THREADS").unwrap_or_else(|_| "unset (1)".into()),
        if cfg!(feature = "tokio") {
            "on"
        } else {
            "off (build with --features tokio)"
        },
        load_average(),
    );
    let started = Instant::now();
    if wanted("inbound") {
        inbound::run();
    }
    if wanted("round_trip") {
        round_trips::run();
    }
    if wanted("memory") {
        memory::run();
    }
    if wanted("reconnect") {
        reconnect::run();
    }
    println!(
        "total {:.1} s, load {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
}
