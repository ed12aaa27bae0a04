//! (d) Reconnect latency beyond the backoff: from
//! `Connector::drop_connections` to the next `Handshaken` state seen by
//! the app, minus the backoff delay the core chose (mirrored with
//! `Backoff` from the same seed, base and cap). The target is absolute;
//! the bare client doing the same reconnects (detect the end of the
//! stream, sleep the same delay on the same runtime's timer, then dial,
//! upgrade with a fresh token, hello and descriptor) is measured in the
//! same run as the floor the runtime and the connector leave.

use std::future::Future;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::header::AUTHORIZATION;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::Message;
use futures_util::SinkExt;
use relay_link::backoff::Backoff;
use relay_link::config::Config;
use relay_link::shell::{Event, Events, RelayLink};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::{mint_token, Secret};
use relay_link::LinkState;
use smol::stream::StreamExt;
use smol::LocalExecutor;

use crate::bare;
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

/// The upgrade request of a bare dial: `url`'s relay path with a token
/// minted now, as the link mints one per dial.
fn bare_request(url: &str) -> async_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("{url}/relay")
        .into_client_request()
        .expect("request");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = mint_token(GATEWAY, &Secret::new(SECRET), now as i64, 300);
    let value = HeaderValue::from_str(&token.bearer_header_value()).expect("header");
    request.headers_mut().insert(AUTHORIZATION, value);
    request
}

/// The upgrade request of a bare dial and the `(host, port)` it goes to.
fn bare_target(
    url: &str,
) -> (
    async_tungstenite::tungstenite::handshake::client::Request,
    (String, u16),
) {
    let request = bare_request(url);
    let host = request.uri().host().expect("host").to_owned();
    let port = request.uri().port_u16().expect("port");
    (request, (host, port))
}

/// A bare smol client's dial: TCP (Nagle off), upgrade, hello, descriptor.
async fn bare_dial_smol(url: String) -> async_tungstenite::WebSocketStream<smol::net::TcpStream> {
    let (request, (host, port)) = bare_target(&url);
    let tcp = smol::net::TcpStream::connect((host.as_str(), port)).await;
    let tcp = tcp.expect("connect");
    let _ = tcp.set_nodelay(true);
    let upgraded = async_tungstenite::client_async(request, tcp).await;
    let (mut ws, _) = upgraded.expect("upgrade");
    bare::hello(&mut ws).await;
    ws
}

/// The same dial by a bare tokio-tungstenite client (inside a tokio
/// runtime).
#[cfg(feature = "tokio")]
async fn bare_dial_tokio(url: String) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let (request, (host, port)) = bare_target(&url);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await;
    let tcp = tcp.expect("connect");
    let _ = tcp.set_nodelay(true);
    let upgraded = tokio_tungstenite::client_async(request, tcp).await;
    let (mut ws, _) = upgraded.expect("upgrade");
    bare::hello(&mut ws).await;
    ws
}

/// The same `RECONNECTS` drops for a bare client: the end of its stream
/// is the detection, then the mirrored backoff delay on the runtime's
/// timer (`sleep`), then a fresh `dial` (upgrade, hello, descriptor).
async fn bare_samples<W, D, DF, S, SF>(dial: D, sleep: S) -> Samples
where
    W: bare::Ws,
    D: Fn(String) -> DF,
    DF: Future<Output = W>,
    S: Fn(Duration) -> SF,
    SF: Future,
{
    let mut mirror = Backoff::new(BASE, CAP, SEED);
    let (mut net, mut detect, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let mut delays = Duration::ZERO;
    let connector = Connector::start(ConnectorOptions::default())
        .await
        .expect("connector");
    connector.add_gateway(GATEWAY, Secret::new(SECRET));
    let mut ws = dial(connector.url()).await;
    for _ in 0..RECONNECTS {
        smol::Timer::after(Duration::from_millis(20)).await;
        let delay = mirror.next_delay();
        delays += delay;
        let dropped = Instant::now();
        connector.drop_connections(GATEWAY);
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        let detected = dropped.elapsed();
        sleep(delay).await;
        ws = dial(connector.url()).await;
        let total = dropped.elapsed();
        raw.push(total.as_secs_f64() * 1e3);
        detect.push(detected.as_secs_f64() * 1e3);
        net.push((total.as_secs_f64() - delay.as_secs_f64()) * 1e3);
    }
    let dials = connector.seen().dials.len();
    assert_eq!(dials, RECONNECTS + 1, "one dial per reconnect");
    let _ = ws.send(Message::Close(None)).await;
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
/// the runtime's timer alone fires ([`timer_late`]), `bare` the bare
/// client's reconnects on the same runtime.
fn variant(name: &str, label: &str, s: &Samples, timer: f64, bare: &Samples) {
    let med = percentile(&s.net, 0.5);
    let bare_med = percentile(&bare.net, 0.5);
    println!("    {label}");
    println!("      diag: the runtime's timer alone fires {timer:.2} ms late (median)");
    println!(
        "      drop -> Retrying seen (detection)   median {:>6.2} ms  p90 {:>6.2} ms  \
         (bare: end of stream {:.2} ms)",
        percentile(&s.detect, 0.5),
        percentile(&s.detect, 0.9),
        percentile(&bare.detect, 0.5)
    );
    println!(
        "      drop -> Handshaken (raw)            median {:>6.2} ms  p90 {:>6.2} ms  \
         (mean backoff delay {:.2} ms)",
        percentile(&s.raw, 0.5),
        percentile(&s.raw, 0.9),
        s.mean_delay_ms
    );
    println!(
        "      bare client, minus backoff          median {bare_med:>6.2} ms  p90 {:>6.2} ms  \
         min {:.2} ms",
        percentile(&bare.net, 0.9),
        bare.net[0]
    );
    println!(
        "      latency minus backoff               median {med:>6.2} ms  p90 {:>6.2} ms  \
         min {:.2} ms   link - bare {:+.2} ms   target median <= {TARGET_MS} ms: {}",
        percentile(&s.net, 0.9),
        s.net[0],
        med - bare_med,
        verdict(med <= TARGET_MS)
    );
    println!(
        "result reconnect_{name} median_ms={med:.3} p90_ms={:.3} detect_ms={:.3} min_ms={:.3} \
         timer_late_ms={timer:.3} bare_ms={bare_med:.3} bare_detect_ms={:.3}",
        percentile(&s.net, 0.9),
        percentile(&s.detect, 0.5),
        s.net[0],
        percentile(&bare.detect, 0.5)
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
    let smol_bare = smol::block_on(bare_samples(bare_dial_smol, smol::Timer::after));
    let smol = smol::block_on(samples(|config| start(Drive::Global, config)));
    variant(
        "smol",
        "(i) smol driver, app on the calling thread:",
        &smol,
        smol_timer,
        &smol_bare,
    );
    let ex = LocalExecutor::new();
    let own = smol::block_on(ex.run(samples(|config| start(Drive::Local(&ex), config))));
    variant(
        "own",
        "(ii) driver spawned on the app's executor (same thread):",
        &own,
        smol_timer,
        &smol_bare,
    );
    #[cfg(feature = "tokio")]
    {
        let rt = crate::tokio_side::TokioThread::start();
        let tokio_timer = rt.on_runtime(timer_late(tokio::time::sleep));
        let tokio_bare = rt.block_on(bare_samples(bare_dial_tokio, tokio::time::sleep));
        let tokio = rt.block_on(samples(|config| rt.start_link(config)));
        variant(
            "tokio",
            "(iii) Runtime::Tokio, driver a tokio task, app on another thread:",
            &tokio,
            tokio_timer,
            &tokio_bare,
        );
    }
}
