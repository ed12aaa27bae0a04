//! (d) Reconnect latency beyond the backoff: from
//! `Connector::drop_connections` to the next `Handshaken` state seen by
//! the app, minus the backoff delay the core chose (mirrored with
//! `Backoff` from the same seed, base and cap). No bare baseline: the
//! target is absolute.

use std::future::Future;
use std::time::{Duration, Instant};

use relay_link::backoff::Backoff;
use relay_link::config::Config;
use relay_link::shell::{Event, Events, RelayLink};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use relay_link::LinkState;
use smol::stream::StreamExt;
use smol::LocalExecutor;

use crate::common::{handshaken, load_average, percentile, verdict, SEED};
use crate::drive::{start, Drive};

const GATEWAY: &str = "gw-bench";
const SECRET: &str = "bench-secret";
const RECONNECTS: usize = 60;
const BASE: Duration = Duration::from_millis(1);
const CAP: Duration = Duration::from_millis(2);
/// Target of (d): median ms beyond the backoff.
const TARGET_MS: f64 = 1.0;

/// The samples of one variant, in ms, sorted.
struct Samples {
    net: Vec<f64>,
    detect: Vec<f64>,
    raw: Vec<f64>,
    mean_delay_ms: f64,
}

/// How late the runtime's own timer fires for the delays the backoff
/// draws (`sleep(delay)` timed, minus the delay): the part of (d) that is
/// the reactor's timer resolution, not the link. Median, ms.
async fn timer_late<F: Future>(sleep: impl Fn(Duration) -> F) -> f64 {
    let mut mirror = Backoff::new(BASE, CAP, SEED);
    let mut late = Vec::new();
    for _ in 0..RECONNECTS {
        let delay = mirror.next_delay();
        let start = Instant::now();
        sleep(delay).await;
        late.push((start.elapsed().as_secs_f64() - delay.as_secs_f64()) * 1e3);
    }
    late.sort_by(f64::total_cmp);
    percentile(&late, 0.5)
}

/// `RECONNECTS` drops of a link started by `start` against a test
/// Connector of this process.
async fn samples(start: impl FnOnce(Config) -> (RelayLink, Events)) -> Samples {
    let mut mirror = Backoff::new(BASE, CAP, SEED);
    let (mut net, mut detect, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let mut delays = Duration::ZERO;
    let connector = Connector::start(ConnectorOptions::default())
        .await
        .expect("connector");
    connector.add_gateway(GATEWAY, Secret::new(SECRET));
    let config = Config::builder(connector.url())
        .gateway_id(GATEWAY)
        .secret(SECRET)
        .identity("discord", "b1")
        .backoff_base(BASE)
        .backoff_max(CAP)
        .build()
        .expect("config");
    let (link, mut events) = start(config);
    handshaken(&mut events).await;
    for _ in 0..RECONNECTS {
        smol::Timer::after(Duration::from_millis(20)).await;
        let delay = mirror.next_delay();
        delays += delay;
        let dropped = Instant::now();
        connector.drop_connections(GATEWAY);
        let mut retrying = None;
        loop {
            match events.next().await.expect("events") {
                Event::State {
                    state: LinkState::Retrying,
                    ..
                } if retrying.is_none() => retrying = Some(dropped.elapsed()),
                Event::State {
                    state: LinkState::Handshaken,
                    ..
                } => break,
                Event::Fatal(report) => panic!("fatal: {report:?}"),
                _ => {}
            }
        }
        let total = dropped.elapsed();
        let retrying = retrying.expect("a Retrying state before the handshake");
        raw.push(total.as_secs_f64() * 1e3);
        detect.push(retrying.as_secs_f64() * 1e3);
        // Below zero would mean the mirror is not the core's ladder.
        net.push((total.as_secs_f64() - delay.as_secs_f64()) * 1e3);
    }
    assert_eq!(link.state(), LinkState::Handshaken);
    let dials = connector.seen().dials.len();
    assert_eq!(dials, RECONNECTS + 1, "one dial per reconnect");
    link.disconnect(Duration::from_secs(2)).await;
    drop(events);
    for v in [&mut net, &mut detect, &mut raw] {
        v.sort_by(f64::total_cmp);
    }
    Samples {
        net,
        detect,
        raw,
        mean_delay_ms: delays.as_secs_f64() * 1e3 / RECONNECTS as f64,
    }
}

/// Prints one variant's rows and its `result` line; `timer` is how late
/// the runtime's timer alone fires ([`timer_late`]).
fn variant(name: &str, label: &str, s: &Samples, timer: f64) {
    let med = percentile(&s.net, 0.5);
    println!("    {label}");
    println!("      diag: the runtime's timer alone fires {timer:.2} ms late (median)");
    println!(
        "      drop -> Retrying seen (detection)   median {:>6.2} ms  p90 {:>6.2} ms",
        percentile(&s.detect, 0.5),
        percentile(&s.detect, 0.9)
    );
    println!(
        "      drop -> Handshaken (raw)            median {:>6.2} ms  p90 {:>6.2} ms  \
         (mean backoff delay {:.2} ms)",
        percentile(&s.raw, 0.5),
        percentile(&s.raw, 0.9),
        s.mean_delay_ms
    );
    println!(
        "      latency minus backoff               median {med:>6.2} ms  p90 {:>6.2} ms  \
         min {:.2} ms   target median <= {TARGET_MS} ms: {}",
        percentile(&s.net, 0.9),
        s.net[0],
        verdict(med <= TARGET_MS)
    );
    println!(
        "result reconnect_{name} median_ms={med:.3} p90_ms={:.3} detect_ms={:.3} min_ms={:.3} \
         timer_late_ms={timer:.3}",
        percentile(&s.net, 0.9),
        percentile(&s.detect, 0.5),
        s.net[0]
    );
}

pub fn run() {
    println!();
    println!(
        "(d) reconnect: Connector::drop_connections (no close frame) -> next Handshaken \
         state seen by the app, minus the backoff delay the core chose (base 1 ms, \
         cap 2 ms, mirrored from the seed); test Connector in this process (smol); \
         {RECONNECTS} reconnects; load {}",
        load_average()
    );
    let smol_timer = smol::block_on(timer_late(smol::Timer::after));
    let smol = smol::block_on(samples(|config| start(Drive::Global, config)));
    variant(
        "smol",
        "(i) smol driver, app on the calling thread:",
        &smol,
        smol_timer,
    );
    let ex = LocalExecutor::new();
    let own = smol::block_on(ex.run(samples(|config| start(Drive::Local(&ex), config))));
    variant(
        "own",
        "(ii) driver spawned on the app's executor (same thread):",
        &own,
        smol_timer,
    );
    #[cfg(feature = "tokio")]
    {
        let rt = crate::tokio_side::TokioThread::start();
        let tokio_timer = rt.on_runtime(timer_late(tokio::time::sleep));
        let tokio = rt.block_on(samples(|config| rt.start_link(config)));
        variant(
            "tokio",
            "(iii) Runtime::Tokio, driver a tokio task, app on another thread:",
            &tokio,
            tokio_timer,
        );
    }
}
