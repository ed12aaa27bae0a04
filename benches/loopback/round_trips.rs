//! (b) Round trips per second (`RelayLink::send` → settlement) at 1 and 64
//! in flight, callers on another thread and on the link's own executor,
//! against one bare pipelined client; context switches per round trip.
//! The bare client and every link stay connected side by side and are
//! measured in alternating blocks, so load swings hit every side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use relay_link::shell::{Events, RelayLink};
use relay_link::LinkState;
use smol::LocalExecutor;

use crate::bare::{self, Requester};
use crate::common::{
    action, config, context_switches, handshaken, load_average, percentile, verdict,
};
use crate::drive::{start, Drive};
use crate::server::RawServer;

/// Round trips per measured block, by concurrency.
const ROUND_TRIPS: [(usize, usize); 2] = [(1, 250), (64, 2_000)];
/// Measured blocks of each side (alternating), after one warm-up block.
const BLOCKS: usize = 20;

/// Targets of (b): callers on another thread, on the link's executor.
const TARGET_OTHER: f64 = 0.85;
const TARGET_OWN_1: f64 = 0.95;
const TARGET_OWN_64: f64 = 0.85;
/// Context switches per round trip at 1 in flight (all threads).
const TARGET_SWITCHES: f64 = 3.0;

/// `window` callers sharing `n` sends through `link`; their duration.
pub async fn callers(link: RelayLink, window: usize, n: usize) -> Duration {
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let worker = || async {
        let action = action();
        while next.fetch_add(1, Ordering::Relaxed) < n {
            let result = link.send(&action, Some("discord")).await;
            assert!(
                result.as_ref().is_ok_and(|r| r["success"] == true),
                "{result:?}"
            );
        }
    };
    futures_util::future::join_all((0..window).map(|_| worker())).await;
    start.elapsed()
}

/// One side's measured blocks: their times and context switches.
#[derive(Default)]
struct Side {
    times: Vec<Duration>,
    switches: u64,
}

impl Side {
    fn total(&self) -> Duration {
        self.times.iter().sum()
    }
}

/// The blocks of every side (side 0 is the bare baseline), measured in
/// rounds: one warm-up round (not kept), then `BLOCKS` rounds, each
/// running every side once in turn.
struct Rounds {
    sides: Vec<Side>,
}

impl Rounds {
    fn new(sides: usize) -> Self {
        Rounds {
            sides: (0..sides).map(|_| Side::default()).collect(),
        }
    }

    /// The rounds: 0 is the warm-up.
    fn each() -> std::ops::RangeInclusive<usize> {
        0..=BLOCKS
    }

    /// Keeps a block's time and the context switches since `before`.
    fn record(&mut self, round: usize, side: usize, time: Duration, before: u64) {
        if round > 0 {
            let stats = &mut self.sides[side];
            stats.times.push(time);
            stats.switches += context_switches() - before;
        }
    }

    /// The median over blocks of (bare block time / this side's).
    fn block_median(&self, side: usize) -> f64 {
        let mut ratios: Vec<f64> = self.sides[0]
            .times
            .iter()
            .zip(&self.sides[side].times)
            .map(|(bare, link)| bare.as_secs_f64() / link.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        percentile(&ratios, 0.5)
    }
}

/// Prints one variant's rows for one window and its `result` line.
/// `other` and `own` are the sides of the callers on another thread and
/// on the link's executor.
fn variant(
    name: &str,
    label: &str,
    window: usize,
    n: usize,
    rounds: &Rounds,
    other: usize,
    own: usize,
) {
    let block_median = |side: usize| rounds.block_median(side);
    let (bare, other, own) = (0, other, own);
    let side = |i: usize| &rounds.sides[i];
    let rate = |i: usize| n as f64 / side(i).total().as_secs_f64();
    let per_trip = |i: usize| side(i).switches as f64 / n as f64;
    let (bare_rate, other_rate, own_rate) = (rate(bare), rate(other), rate(own));
    let (other_ratio, own_ratio) = (other_rate / bare_rate, own_rate / bare_rate);
    let own_target = if window == 1 {
        TARGET_OWN_1
    } else {
        TARGET_OWN_64
    };
    println!("    {label}");
    println!(
        "      callers on another thread        {other_rate:>9.0} /s  ratio {other_ratio:.2} \
         (block median {:.2})  target >= {TARGET_OTHER}: {}",
        block_median(other),
        verdict(other_ratio >= TARGET_OTHER)
    );
    println!(
        "      callers on the link's executor   {own_rate:>9.0} /s  ratio {own_ratio:.2} \
         (block median {:.2})  target >= {own_target}: {}",
        block_median(own),
        verdict(own_ratio >= own_target)
    );
    let (cs_bare, cs_other, cs_own) = (per_trip(bare), per_trip(other), per_trip(own));
    let switch_verdict = if window == 1 {
        format!(
            "  target <= {TARGET_SWITCHES}: {} / {}",
            verdict(cs_other <= TARGET_SWITCHES),
            verdict(cs_own <= TARGET_SWITCHES)
        )
    } else {
        String::new()
    };
    println!(
        "      context switches per round trip  bare {cs_bare:.1}, another thread {cs_other:.1}, \
         own executor {cs_own:.1}{switch_verdict}"
    );
    println!(
        "result round_trip_{window}_{name} bare={bare_rate:.0} other={other_rate:.0} own={own_rate:.0} \
         ratio_other={other_ratio:.3} ratio_own={own_ratio:.3} \
         block_median_other={:.3} block_median_own={:.3} \
         switches_bare={cs_bare:.2} switches_other={cs_other:.2} switches_own={cs_own:.2}",
        block_median(other),
        block_median(own)
    );
}

pub fn run() {
    let server = RawServer::start(std::sync::Arc::new(Vec::new()));
    println!();
    println!(
        "(b) round trips: outbound -> outbound_result against a raw async-tungstenite \
         server thread; bare = one pipelined client task matching by requestId; \
         every side connected at once, measured in alternating blocks \
         ({BLOCKS} blocks each, after a warm-up block); context switches of all \
         threads (server included); load {}",
        load_average()
    );
    for (window, block) in ROUND_TRIPS {
        let n = BLOCKS * block;
        println!("    {window:>2} in flight, {BLOCKS} x {block} round trips per side:");
        smol_sides(&server, window, block, n);
        #[cfg(feature = "tokio")]
        tokio_sides(&server, window, block, n);
    }
}

/// Disconnects `links` and drops their streams.
async fn close_all(links: Vec<(RelayLink, Events)>) {
    for (link, events) in links {
        assert_eq!(link.state(), LinkState::Handshaken);
        link.disconnect(Duration::from_secs(2)).await;
        drop(events);
    }
}

fn smol_sides(server: &RawServer, window: usize, block: usize, n: usize) {
    let url = server.url();
    let ex = LocalExecutor::new();
    let rounds = smol::block_on(ex.run(async {
        let mut bare = Requester::new(bare::connect_smol(server.addr, None).await);
        let mut links = Vec::new();
        for drive in [Drive::Global, Drive::Local(&ex), Drive::Thread] {
            let (link, mut events) = start(drive, config(&url));
            handshaken(&mut events).await;
            links.push((link, events));
        }
        let [global, local, thread] = [0, 1, 2].map(|i| links[i].0.clone());
        let mut rounds = Rounds::new(5);
        for round in Rounds::each() {
            for side in 0..5 {
                let before = context_switches();
                let time = match side {
                    0 => bare.block(window, block).await,
                    1 => callers(global.clone(), window, block).await,
                    2 => smol::spawn(callers(global.clone(), window, block)).await,
                    3 => callers(local.clone(), window, block).await,
                    _ => callers(thread.clone(), window, block).await,
                };
                rounds.record(round, side, time, before);
            }
        }
        close_all(links).await;
        rounds
    }));
    println!(
        "    bare async-tungstenite client             {:>9.0} /s",
        n as f64 / rounds.sides[0].total().as_secs_f64()
    );
    variant(
        "smol",
        "(i) smol driver (RelayLink::spawn; callers on smol's executor = smol::spawn):",
        window,
        n,
        &rounds,
        1,
        2,
    );
    variant(
        "own",
        "(ii) RelayLink::new (another thread = driver block_on'd on its own thread; \
         own executor = driver spawned on the callers' executor):",
        window,
        n,
        &rounds,
        4,
        3,
    );
}

#[cfg(feature = "tokio")]
fn tokio_sides(server: &RawServer, window: usize, block: usize, n: usize) {
    use crate::tokio_side::{self, TokioThread};

    let url = server.url();
    let addr = server.addr;
    let rt = TokioThread::start();
    let mut bare =
        Some(rt.on_runtime(async move { Requester::new(tokio_side::connect(addr, None).await) }));
    let (link, mut events) = rt.start_link(config(&url));
    rt.block_on(handshaken(&mut events));
    let mut rounds = Rounds::new(3);
    for round in Rounds::each() {
        for side in 0..3 {
            let before = context_switches();
            let time = match side {
                0 => {
                    let mut requester = bare.take().expect("bare requester");
                    let (requester, time) = rt.on_runtime(async move {
                        let time = requester.block(window, block).await;
                        (requester, time)
                    });
                    bare = Some(requester);
                    time
                }
                1 => rt.block_on(callers(link.clone(), window, block)),
                _ => rt.on_runtime(callers(link.clone(), window, block)),
            };
            rounds.record(round, side, time, before);
        }
    }
    rt.block_on(close_all(vec![(link, events)]));
    println!(
        "    bare tokio-tungstenite client (tokio task) {:>9.0} /s",
        n as f64 / rounds.sides[0].total().as_secs_f64()
    );
    variant(
        "tokio",
        "(iii) Runtime::Tokio, driver a task on a current-thread runtime (own executor = \
         callers a task there too; another thread = Handle::block_on):",
        window,
        n,
        &rounds,
        1,
        2,
    );
}
