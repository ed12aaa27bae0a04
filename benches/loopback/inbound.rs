//! (a) Inbound frames per second reaching the application, against the
//! bare client that receives and splits lines and the bare client that
//! also parses each line into a `serde_json::Value`; for the smol driver,
//! the driver on the caller's executor, and (feature `tokio`) the tokio
//! runtime against a bare tokio-tungstenite client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use relay_link::shell::{Event, Events, RelayLink};
use relay_link::testing::default_descriptor;
use relay_link::{Command, Input, Link, LinkState};
use serde_json::json;
use smol::stream::StreamExt;
use smol::LocalExecutor;

use crate::bare;
use crate::common::{config, handshaken, load_average, median, status_kib, verdict, SEED};
use crate::drive::{start, Drive};
use crate::server::{inbound_messages, RawServer};

/// Inbound frames per measured run.
pub const FRAMES: usize = 100_000;
/// Measured runs of each side (alternating); the median rate is reported.
const RUNS: usize = 5;

/// Targets of (a): ratio to the bare split client, to the parsing client.
pub const TARGET_SPLIT: f64 = 0.33;
pub const TARGET_PARSED: f64 = 1.3;

/// The application's loop: counts `n` inbound events (with `typed`, also
/// types each frame's event); its rate from the `blast` request on. Gives
/// the stream back.
pub async fn app(link: RelayLink, mut events: Events, n: usize, typed: bool) -> (f64, Events) {
    let start = Instant::now();
    link.interrupt("blast", None);
    let mut count = 0;
    while count < n {
        match events.next().await {
            Some(Event::Inbound { frame, .. }) => {
                if typed {
                    std::hint::black_box(frame.event().expect("a well-typed event"));
                }
                std::hint::black_box(&frame);
                count += 1;
            }
            Some(Event::State { state, .. }) if state != LinkState::Handshaken => {
                panic!("link inbound: {state} after {count} frames")
            }
            Some(_) => {}
            None => panic!("link inbound: events ended after {count} frames"),
        }
    }
    (n as f64 / start.elapsed().as_secs_f64(), events)
}

/// A link on smol's reactor, its driver where `drive` says; the app's loop
/// on the calling thread, or (`on_global`) as a task on smol's global
/// executor.
pub async fn smol_link(drive: Drive<'_>, url: &str, on_global: bool, typed: bool) -> f64 {
    let (link, mut events) = start(drive, config(url));
    handshaken(&mut events).await;
    let app = app(link.clone(), events, FRAMES, typed);
    let (rate, events) = if on_global {
        smol::spawn(app).await
    } else {
        app.await
    };
    link.disconnect(Duration::from_secs(2)).await;
    drop(events);
    rate
}

/// The sans-IO core alone on the same message texts: a handshaken [`Link`]
/// handling each message as `Input::Received` (text copied, as the shell
/// does), commands drained; no sockets, tasks or channels.
fn core_inbound(messages: &[Message]) -> f64 {
    let now = Instant::now();
    let mut link = Link::new(config("ws://127.0.0.1:1"), SEED, now);
    link.handle_input(Input::Start, now);
    let gen = link
        .drain_commands()
        .into_iter()
        .find_map(|c| match c {
            Command::Dial { gen, .. } => Some(gen),
            _ => None,
        })
        .expect("a dial");
    link.handle_input(Input::DialSucceeded { gen }, now);
    let descriptor = json!({"type": "descriptor", "descriptor": default_descriptor("discord")});
    link.handle_input(
        Input::Received {
            gen,
            text: format!("{descriptor}\n"),
        },
        now,
    );
    link.drain_commands();
    assert_eq!(link.state(), LinkState::Handshaken);
    let start = Instant::now();
    let mut count = 0;
    for message in messages {
        let text = message.to_text().expect("text").to_owned();
        link.handle_input(Input::Received { gen, text }, Instant::now());
        for command in link.drain_commands() {
            if let Command::Inbound(frame) = command {
                std::hint::black_box(&frame);
                count += 1;
            }
        }
    }
    assert_eq!(count, messages.len());
    count as f64 / start.elapsed().as_secs_f64()
}

/// A diagnostic row: its `result` key, its label, its rate.
type Diagnostic = (&'static str, &'static str, f64);

/// Prints one variant's (a) rows and its `result` line.
fn variant(name: &str, label: &str, bare: f64, parsed: f64, link: f64, extra: &[Diagnostic]) {
    let (split_ratio, parsed_ratio) = (link / bare, link / parsed);
    println!("    {label}");
    println!("      relay-link (Event::Inbound to the app)   {link:>10.0} frames/s");
    println!(
        "      ratio to bare receive + split            {split_ratio:>10.2}   target >= {TARGET_SPLIT}: {}",
        verdict(split_ratio >= TARGET_SPLIT)
    );
    println!(
        "      ratio to bare + Value parse              {parsed_ratio:>10.2}   target >= {TARGET_PARSED}: {}",
        verdict(parsed_ratio >= TARGET_PARSED)
    );
    for (_, label, value) in extra {
        println!(
            "      {label:<40} {value:>10.0} frames/s  (ratio {:.2})",
            value / bare
        );
    }
    let extra: String = extra
        .iter()
        .map(|(key, _, value)| format!(" {key}={value:.0}"))
        .collect();
    println!(
        "result inbound_{name} bare={bare:.0} bare_parsed={parsed:.0} link={link:.0} \
         ratio={split_ratio:.3} ratio_parsed={parsed_ratio:.3}{extra}"
    );
}

pub fn run() {
    let blast = Arc::new(inbound_messages(FRAMES));
    let frame_bytes = blast.iter().map(Message::len).sum::<usize>() / blast.len();
    let server = RawServer::start(Arc::clone(&blast));
    println!();
    println!(
        "(a) inbound: source = raw async-tungstenite server thread in this process, \
         {FRAMES} pre-built inbound frames of ~{frame_bytes} B, one per message, \
         written back to back; median of {RUNS} alternating runs; load {}",
        load_average()
    );
    smol_sides(&server, &blast);
    #[cfg(feature = "tokio")]
    tokio_sides(&server);
    println!(
        "    peak RSS of this process so far            {:>10.1} MiB",
        status_kib("VmHWM:") as f64 / 1024.0
    );
}

fn smol_sides(server: &RawServer, blast: &[Message]) {
    let url = server.url();
    let addr = server.addr;
    let mut runs = [(); 8].map(|()| Vec::new());
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let ex = &ex;
        // Warm-up: connections, allocator, executor threads.
        bare::inbound(bare::connect_smol(addr, None).await, FRAMES, false).await;
        smol_link(Drive::Global, &url, false, false).await;
        smol_link(Drive::Local(ex), &url, false, false).await;
        for _ in 0..RUNS {
            runs[0].push(bare::inbound(bare::connect_smol(addr, None).await, FRAMES, false).await);
            runs[1].push(smol_link(Drive::Global, &url, false, false).await);
            runs[2].push(bare::inbound(bare::connect_smol(addr, None).await, FRAMES, true).await);
            runs[3].push(smol_link(Drive::Local(ex), &url, false, false).await);
            runs[4].push(smol_link(Drive::Global, &url, true, false).await);
            runs[5].push(smol_link(Drive::Thread, &url, false, false).await);
            runs[6].push(smol_link(Drive::Global, &url, false, true).await);
            runs[7].push(core_inbound(blast));
        }
    }));
    let [bare, smol, parsed, own, smol_ex, thread, typed, core] = runs.map(|mut r| median(&mut r));
    println!("    bare async-tungstenite client, receive + split lines   {bare:>10.0} frames/s");
    println!("    bare async-tungstenite client + serde_json::Value parse {parsed:>9.0} frames/s");
    variant(
        "smol",
        "(i) smol driver (RelayLink::spawn), app loop on the calling thread:",
        bare,
        parsed,
        smol,
        &[
            ("on_executor", "diag: app loop on smol's executor", smol_ex),
            ("typed", "diag: app calls frame.event()", typed),
            ("core", "diag: core alone (no IO, same texts)", core),
        ],
    );
    variant(
        "own",
        "(ii) RelayLink::new, driver spawned on the app's executor (same thread):",
        bare,
        parsed,
        own,
        &[(
            "thread",
            "diag: driver block_on'd on its own thread",
            thread,
        )],
    );
}

#[cfg(feature = "tokio")]
fn tokio_sides(server: &RawServer) {
    use crate::tokio_side::{self, TokioThread};

    let url = server.url();
    let addr = server.addr;
    let rt = TokioThread::start();
    let bare_side = |parse: bool| {
        rt.on_runtime(async move {
            bare::inbound(tokio_side::connect(addr, None).await, FRAMES, parse).await
        })
    };
    let link_side = |on_runtime: bool| {
        let (link, mut events) = rt.start_link(config(&url));
        rt.block_on(handshaken(&mut events));
        let (rate, events) = if on_runtime {
            rt.on_runtime(app(link.clone(), events, FRAMES, false))
        } else {
            rt.block_on(app(link.clone(), events, FRAMES, false))
        };
        rt.block_on(link.disconnect(Duration::from_secs(2)));
        drop(events);
        rate
    };
    bare_side(false);
    link_side(true);
    let mut runs = [(); 4].map(|()| Vec::new());
    for _ in 0..RUNS {
        runs[0].push(bare_side(false));
        runs[1].push(link_side(true));
        runs[2].push(bare_side(true));
        runs[3].push(link_side(false));
    }
    let [bare, own, parsed, other] = runs.map(|mut r| median(&mut r));
    println!(
        "    bare tokio-tungstenite client (tokio task), receive + split {bare:>10.0} frames/s"
    );
    println!(
        "    bare tokio-tungstenite client + serde_json::Value parse    {parsed:>10.0} frames/s"
    );
    variant(
        "tokio",
        "(iii) Runtime::Tokio, driver and app loop tokio tasks on one runtime thread:",
        bare,
        parsed,
        own,
        &[("other_thread", "diag: app loop on another thread", other)],
    );
}
