//! Profiling mode: `RELAY_LINK_BENCH_PROFILE=<workload>` runs one workload
//! of the sections over and over (about 10 s) and nothing else, so
//! `perf record` sees that workload alone. Workloads: `inbound-bare`,
//! `inbound-own`, `inbound-smol`, `inbound-tokio`, `round-trip-bare`,
//! `round-trip-own`, `round-trip-other`, `round-trip-tokio-own`,
//! `round-trip-tokio-other` (1 in flight).

use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::LocalExecutor;

use crate::bare::{self, Requester};
use crate::common::{config, handshaken};
use crate::drive::{start, Drive};
use crate::inbound::{smol_link, FRAMES};
use crate::round_trips::callers;
use crate::server::{inbound_messages, RawServer};

/// How long a workload repeats.
const FOR: Duration = Duration::from_secs(10);
/// Round trips per repetition.
const ROUND_TRIPS: usize = 2_000;

/// Repeats `once` until [`FOR`] has passed; prints the repetitions.
pub fn repeat(name: &str, once: &mut dyn FnMut()) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < FOR {
        once();
        n += 1;
    }
    println!(
        "profile {name}: {n} repetitions in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

pub fn run(workload: &str) {
    let server = RawServer::start(Arc::new(inbound_messages(FRAMES)));
    let (url, addr) = (server.url(), server.addr);
    let ex = LocalExecutor::new();
    let on_ex = |f: &mut dyn FnMut(&LocalExecutor<'static>)| f(&ex);
    match workload {
        "inbound-bare" => repeat(workload, &mut || {
            smol::block_on(async {
                bare::inbound(bare::connect_smol(addr, None).await, FRAMES, false).await
            });
        }),
        "inbound-own" => on_ex(&mut |ex| {
            repeat(workload, &mut || {
                smol::block_on(ex.run(smol_link(Drive::Local(ex), &url, false, false)));
            })
        }),
        "inbound-smol" => repeat(workload, &mut || {
            smol::block_on(smol_link(Drive::Global, &url, false, false));
        }),
        "round-trip-bare" => smol::block_on(async {
            let mut requester = Requester::new(bare::connect_smol(addr, None).await);
            let mut n = 0;
            let start = Instant::now();
            while start.elapsed() < FOR {
                requester.block(1, ROUND_TRIPS).await;
                n += 1;
            }
            println!("profile {workload}: {n} repetitions");
        }),
        "round-trip-own" | "round-trip-other" => on_ex(&mut |ex| {
            let drive = if workload == "round-trip-own" {
                Drive::Local(ex)
            } else {
                Drive::Thread
            };
            let (link, mut events) = start(drive, config(&url));
            smol::block_on(ex.run(handshaken(&mut events)));
            repeat(workload, &mut || {
                smol::block_on(ex.run(callers(link.clone(), 1, ROUND_TRIPS)));
            });
        }),
        #[cfg(feature = "tokio")]
        "inbound-tokio" | "round-trip-tokio-own" | "round-trip-tokio-other" => {
            crate::tokio_side::profile(workload, &url, repeat)
        }
        other => panic!("unknown profile workload {other:?}"),
    }
}
