//! Whole-stack loopback benchmark (see `docs/performance.md`; run with
//! `scripts/bench-loopback.sh`). A plain `main` that prints one table: these
//! are throughput and latency figures of the real shell over real loopback
//! sockets, not micro-benchmarks, so criterion's sampling does not apply.
//!
//! * **inbound**: frames per second delivered to the application as
//!   [`Event::Inbound`], against a bare async-tungstenite client that only
//!   receives messages and splits lines, both fed by the same raw
//!   async-tungstenite server (its own thread, pre-built frames, one frame
//!   per WebSocket message).
//! * **round trips**: `RelayLink::send` → settlement per second with 1 and
//!   64 requests in flight, against a bare async-tungstenite client that
//!   writes `outbound` frames and matches the answers by `requestId`, same
//!   server, same concurrency.
//! * **memory**: RSS per idle, handshaken link with 1,000 links open in one
//!   process against one test [`Connector`] (the connector runs in a child
//!   process so its own memory is not counted).
//! * **reconnect**: from [`Connector::drop_connections`] to the next
//!   handshake, minus the backoff delay the core chose (mirrored with
//!   [`Backoff`] from the same seed, base and cap).
//!
//! Every figure goes out as a `result key=value …` line too, which the
//! script reads. Roles: the binary re-executes itself with
//! `RELAY_LINK_BENCH_ROLE` set to run the memory measurements and their
//! connector in fresh processes.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::{SinkExt, StreamExt};
use relay_link::backoff::Backoff;
use relay_link::config::Config;
use relay_link::shell::{Event, Events, Options, RelayLink};
use relay_link::testing::{default_descriptor, Connector, ConnectorOptions};
use relay_link::token::Secret;
use relay_link::{Command, Input, Link, LinkState};
use serde_json::{json, Map, Value};
use smol::net::{TcpListener, TcpStream};

/// Fixed so every run draws the same backoff delays.
const SEED: u64 = 0x5eed_2024;
const ROLE: &str = "RELAY_LINK_BENCH_ROLE";
const GATEWAY: &str = "gw-bench";
const SECRET: &str = "bench-secret";

/// Inbound frames per measured run.
const INBOUND_FRAMES: usize = 100_000;
/// Measured runs of each side (alternating); the median rate is reported.
const RUNS: usize = 5;
/// Round trips per measured block, by concurrency.
const ROUND_TRIPS: [(usize, usize); 2] = [(1, 250), (64, 2_000)];
/// Measured blocks of each side of the round trips (alternating).
const BLOCKS: usize = 20;
const LINKS: usize = 1_000;
/// Links spawned before waiting for their handshakes (the listen backlog).
const LINK_BATCH: usize = 100;
const RECONNECTS: usize = 60;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("connector") => return connector_role(),
        Ok("memory") => return memory_role(false),
        Ok("memory-bare") => return memory_role(true),
        _ => {}
    }
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    println!(
        "relay-link loopback benchmark ({} cores, SMOL_THREADS={})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::var("SMOL_THREADS").unwrap_or_else(|_| "unset (1)".into()),
    );
    let started = Instant::now();
    if wanted("inbound") {
        inbound();
    }
    if wanted("round_trip") {
        round_trips();
    }
    if wanted("memory") {
        memory();
    }
    if wanted("reconnect") {
        reconnect();
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

// ----- shared helpers ---------------------------------------------------------

fn config(url: &str) -> Config {
    Config::builder(url)
        .identity("discord", "b1")
        .build()
        .expect("bench config")
}

fn options() -> Options {
    Options {
        seed: Some(SEED),
        ..Options::default()
    }
}

/// Waits for the link's next `Handshaken` state.
async fn handshaken(events: &mut Events) {
    loop {
        match events.next().await {
            Some(Event::State {
                state: LinkState::Handshaken,
                ..
            }) => return,
            Some(Event::Fatal(report)) => panic!("fatal: {report:?}"),
            Some(_) => {}
            None => panic!("the link ended before its handshake"),
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A `… kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Context switches (voluntary and not) of every thread of this process.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn hello_line() -> String {
    format!(
        "{}\n",
        json!({"type": "hello", "platform": "discord", "botId": "b1"})
    )
}

/// Splits `text` into lines, keeping the trailing partial line in `partial`.
fn for_each_line(partial: &mut String, text: &str, mut each: impl FnMut(&str)) {
    let mut rest = text;
    if !partial.is_empty() {
        match rest.find('\n') {
            Some(end) => {
                partial.push_str(&rest[..end]);
                each(partial);
                partial.clear();
                rest = &rest[end + 1..];
            }
            None => {
                partial.push_str(rest);
                return;
            }
        }
    }
    while let Some(end) = rest.find('\n') {
        let line = &rest[..end];
        if !line.trim().is_empty() {
            each(line);
        }
        rest = &rest[end + 1..];
    }
    partial.push_str(rest);
}

// ----- the raw server of (a) and (b) -------------------------------------------

/// A minimal connector written directly on async-tungstenite, on its own
/// thread and executor: answers each `hello` with a descriptor, each
/// `outbound` with an `outbound_result` (same `requestId`), and an
/// `interrupt` with session key `blast` with every pre-built inbound
/// message, back to back.
struct RawServer {
    addr: SocketAddr,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    fn start(blast: Arc<Vec<Message>>) -> RawServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("raw-connector".into())
            .spawn(move || {
                let ex = std::rc::Rc::new(smol::LocalExecutor::new());
                smol::block_on(ex.run(async {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                    addr_tx.send(listener.local_addr().expect("addr")).unwrap();
                    // A task of its own: the executor's main future is
                    // polled on every wake-up of the thread.
                    let spawner = std::rc::Rc::clone(&ex);
                    let accept = ex.spawn(async move {
                        while let Ok((tcp, _)) = listener.accept().await {
                            let _ = tcp.set_nodelay(true);
                            spawner.spawn(serve_raw(tcp, Arc::clone(&blast))).detach();
                        }
                    });
                    let _ = stopped.recv().await;
                    drop(accept);
                }));
            })
            .expect("server thread");
        RawServer {
            addr: addr_rx.recv().expect("server address"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve_raw(tcp: TcpStream, blast: Arc<Vec<Message>>) {
    let Ok(mut ws) = async_tungstenite::accept_async(tcp).await else {
        return;
    };
    let descriptor = Message::text(format!(
        "{}\n",
        json!({"type": "descriptor", "descriptor": default_descriptor("discord")})
    ));
    let mut partial = String::new();
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue; // pings are answered by tungstenite, closes end the stream
        };
        let mut replies = Vec::new();
        let mut push = false;
        for_each_line(&mut partial, text.as_str(), |line| {
            let Ok(frame) = serde_json::from_str::<Value>(line) else {
                return;
            };
            match frame["type"].as_str() {
                Some("hello") => replies.push(descriptor.clone()),
                Some("outbound") => replies.push(Message::text(format!(
                    "{}\n",
                    json!({
                        "type": "outbound_result",
                        "requestId": frame["requestId"],
                        "result": {"success": true, "message_id": "1200000000000000001"},
                    })
                ))),
                Some("interrupt") if frame["session_key"] == "blast" => push = true,
                _ => {}
            }
        });
        for reply in replies {
            if ws.feed(reply).await.is_err() {
                return;
            }
        }
        if push {
            for message in blast.iter() {
                if ws.feed(message.clone()).await.is_err() {
                    return;
                }
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// `n` realistic `inbound` frames (live, no `bufferId`), one per message.
fn inbound_messages(n: usize) -> Vec<Message> {
    const TEXTS: [&str; 6] = [
        "hey, is the deploy still running?",
        "Can you summarise the thread above? I missed the standup this morning and need the gist before the 2pm sync.",
        "lgtm 👍",
        "Prüfen Sie bitte die Rechnung für März — der Betrag stimmt nicht.",
        "/ask what is the retention policy for audit logs in the EU region and who signs off on exceptions?",
        "ok",
    ];
    const USERS: [&str; 4] = ["alice", "Bob Martin", "carol_dev", "エミ"];
    (0..n)
        .map(|i| {
            let frame = json!({
                "type": "inbound",
                "event": {
                    "text": TEXTS[i % TEXTS.len()],
                    "message_type": "text",
                    "message_id": format!("{}", 1_100_000_000_000_000_000u64 + i as u64),
                    "source": {
                        "platform": "discord",
                        "chat_id": "987654321098765432",
                        "chat_type": if i % 3 == 0 { "dm" } else { "group" },
                        "user_id": format!("{}", 300_000_000_000_000_000u64 + (i % 1000) as u64),
                        "user_name": USERS[i % USERS.len()],
                        "thread_id": null,
                        "scope_id": "guild:112233445566778899",
                    },
                    "media_urls": [],
                    "timestamp": "2024-05-17T09:21:44.512Z",
                },
            });
            Message::text(format!("{frame}\n"))
        })
        .collect()
}

type BareWs = WebSocketStream<TcpStream>;

/// The read chunk the shell configures (`src/shell/socket.rs`), for the
/// bare connections of the memory reference.
const SHELL_READ_BUFFER: usize = 16 * 1024;

/// A bare client: connect, hello, wait for the descriptor. `config`
/// `None` is async-tungstenite's default.
async fn bare_connect(addr: SocketAddr, config: Option<WebSocketConfig>) -> BareWs {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.set_nodelay(true);
    let url = format!("ws://{addr}/relay");
    let (mut ws, _) = async_tungstenite::client_async_with_config(url.as_str(), tcp, config)
        .await
        .expect("upgrade");
    ws.send(Message::text(hello_line())).await.expect("hello");
    while let Some(Ok(message)) = ws.next().await {
        if message
            .to_text()
            .is_ok_and(|t| t.contains("\"descriptor\""))
        {
            return ws;
        }
    }
    panic!("no descriptor");
}

fn blast_line() -> String {
    format!(
        "{}\n",
        json!({"type": "interrupt", "session_key": "blast", "reason": null})
    )
}

// ----- (a) inbound --------------------------------------------------------------

/// Frames per second a bare client receives and splits (and, with
/// `parse`, also parses each line into a `serde_json::Value`).
async fn bare_inbound(addr: SocketAddr, n: usize, parse: bool) -> f64 {
    let mut ws = bare_connect(addr, None).await;
    let start = Instant::now();
    ws.send(Message::text(blast_line())).await.expect("blast");
    let mut partial = String::new();
    let mut count = 0;
    let mut bytes = 0;
    while count < n {
        let Some(Ok(message)) = ws.next().await else {
            panic!("bare inbound: stream ended after {count} frames");
        };
        if let Message::Text(text) = message {
            for_each_line(&mut partial, text.as_str(), |line| {
                if parse {
                    let value: Value = serde_json::from_str(line).expect("json");
                    bytes += value.as_object().map_or(0, Map::len);
                } else {
                    bytes += line.len();
                }
                count += 1;
            });
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    let _ = ws.close(None).await;
    rate
}

/// Inbound frames per second delivered to the application as events. With
/// `on_executor` the application's loop is a task on smol's global
/// executor (the thread the link's own tasks run on) instead of the
/// calling thread; with `typed` it also types each frame's event
/// (`InboundFrame::event`), as an application reading the message does.
async fn link_inbound(url: &str, n: usize, on_executor: bool, typed: bool) -> f64 {
    let (link, mut events) = RelayLink::spawn(config(url), options()).expect("spawn");
    handshaken(&mut events).await;
    let app = {
        let link = link.clone();
        async move {
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
    };
    let (rate, events) = if on_executor {
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

fn inbound() {
    let blast = Arc::new(inbound_messages(INBOUND_FRAMES));
    let frame_bytes = blast.iter().map(Message::len).sum::<usize>() / blast.len();
    let server = RawServer::start(Arc::clone(&blast));
    let url = server.url();
    let mut runs = [(); 6].map(|()| Vec::new());
    smol::block_on(async {
        // Warm-up: connections, allocator, executor threads.
        bare_inbound(server.addr, INBOUND_FRAMES, false).await;
        link_inbound(&url, INBOUND_FRAMES, false, false).await;
        for _ in 0..RUNS {
            runs[0].push(bare_inbound(server.addr, INBOUND_FRAMES, false).await);
            runs[1].push(link_inbound(&url, INBOUND_FRAMES, false, false).await);
            runs[2].push(bare_inbound(server.addr, INBOUND_FRAMES, true).await);
            runs[3].push(link_inbound(&url, INBOUND_FRAMES, true, false).await);
            runs[4].push(core_inbound(&blast));
            runs[5].push(link_inbound(&url, INBOUND_FRAMES, false, true).await);
        }
    });
    let [bare, link, parsed, link_ex, core, typed] = runs.map(|mut r| median(&mut r));
    println!();
    println!(
        "(a) inbound: source = raw async-tungstenite server thread in this process, \
         {INBOUND_FRAMES} pre-built inbound frames of ~{frame_bytes} B, one per message, \
         written back to back; median of {RUNS} runs"
    );
    println!("    bare client (receive + split lines)      {bare:>10.0} frames/s");
    println!("    relay-link (Event::Inbound to the app)   {link:>10.0} frames/s");
    println!(
        "    ratio relay-link / bare                  {:>10.2}   target >= 0.60: {}",
        link / bare,
        verdict(link / bare >= 0.6)
    );
    println!("    diagnostics, same source:");
    println!("      bare client + serde_json::Value parse  {parsed:>10.0} frames/s");
    println!("      relay-link, app task on smol executor  {link_ex:>10.0} frames/s");
    println!("      relay-link, app calls frame.event()    {typed:>10.0} frames/s");
    println!("      core alone (Link, no IO, same texts)   {core:>10.0} frames/s");
    println!(
        "      peak RSS of this process so far        {:>10.1} MiB",
        status_kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "result inbound bare={bare:.0} link={link:.0} ratio={:.3} bare_parsed={parsed:.0} \
         link_on_executor={link_ex:.0} core={core:.0} link_typed={typed:.0}",
        link / bare
    );
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

// ----- (b) round trips ------------------------------------------------------------

fn action() -> Map<String, Value> {
    let Value::Object(action) = json!({
        "op": "send",
        "chat_id": "987654321098765432",
        "text": "on it, give me a minute",
    }) else {
        unreachable!()
    };
    action
}

/// A bare client's side of the round trips: one pipelined task that writes
/// `outbound` frames and matches the answers by `requestId`.
struct BareRequester {
    ws: BareWs,
    action: Value,
    next_id: u64,
    partial: String,
}

impl BareRequester {
    async fn connect(addr: SocketAddr) -> Self {
        BareRequester {
            ws: bare_connect(addr, None).await,
            action: Value::Object(action()),
            next_id: 0,
            partial: String::new(),
        }
    }

    fn frame(&mut self, pending: &mut HashSet<String>) -> Message {
        self.next_id += 1;
        let id = format!("{SEED:016x}{:016x}", self.next_id);
        let line = json!({
            "type": "outbound",
            "requestId": id,
            "action": self.action,
            "platform": "discord",
            "botId": "b1",
        });
        pending.insert(id);
        Message::text(format!("{line}\n"))
    }

    /// `n` round trips with at most `window` in flight; their duration.
    async fn block(&mut self, window: usize, n: usize) -> Duration {
        let start = Instant::now();
        let mut pending = HashSet::new();
        let mut sent = 0;
        let mut done = 0;
        while sent < window.min(n) {
            let frame = self.frame(&mut pending);
            self.ws.feed(frame).await.expect("write");
            sent += 1;
        }
        self.ws.flush().await.expect("flush");
        while done < n {
            let Some(Ok(message)) = self.ws.next().await else {
                panic!("bare round trips: stream ended");
            };
            let Message::Text(text) = message else {
                continue;
            };
            let mut answered = 0;
            for_each_line(&mut self.partial, text.as_str(), |line| {
                let value: Value = serde_json::from_str(line).expect("json");
                if let Some(id) = value["requestId"].as_str() {
                    if pending.remove(id) && value["result"]["success"] == true {
                        answered += 1;
                    }
                }
            });
            done += answered;
            for _ in 0..answered {
                if sent < n {
                    let frame = self.frame(&mut pending);
                    self.ws.feed(frame).await.expect("write");
                    sent += 1;
                }
            }
            self.ws.flush().await.expect("flush");
        }
        start.elapsed()
    }
}

/// `window` callers sharing `n` sends.
async fn senders(link: RelayLink, window: usize, n: usize) {
    let next = AtomicUsize::new(0);
    let worker = || async {
        let action = action();
        while next.fetch_add(1, Ordering::Relaxed) < n {
            let result = link.send(action.clone(), Some("discord")).await;
            assert_eq!(result["success"], true, "{result}");
        }
    };
    futures_util::future::join_all((0..window).map(|_| worker())).await;
}

/// `n` round trips through `RelayLink::send` with `window` callers, on the
/// calling thread or (`on_executor`) as a task on smol's executor; their
/// duration.
async fn link_block(link: &RelayLink, window: usize, n: usize, on_executor: bool) -> Duration {
    let start = Instant::now();
    let callers = senders(link.clone(), window, n);
    if on_executor {
        smol::spawn(callers).await;
    } else {
        callers.await;
    }
    start.elapsed()
}

fn round_trips() {
    let server = RawServer::start(Arc::new(Vec::new()));
    let url = server.url();
    println!();
    println!(
        "(b) round trips: outbound -> outbound_result against a raw async-tungstenite \
         server thread; bare = one pipelined client task matching by requestId; \
         bare and relay-link connected side by side, measured in alternating blocks \
         ({BLOCKS} blocks each, after one warm-up block)"
    );
    for (window, block) in ROUND_TRIPS {
        let mut total = [Duration::ZERO; 3];
        let mut switches = [0u64; 3];
        let mut block_ratios = Vec::new();
        smol::block_on(async {
            let mut bare = BareRequester::connect(server.addr).await;
            let (link, mut events) = RelayLink::spawn(config(&url), options()).expect("spawn");
            handshaken(&mut events).await;
            bare.block(window, block).await;
            link_block(&link, window, block, false).await;
            link_block(&link, window, block, true).await;
            for _ in 0..BLOCKS {
                let mut times = [Duration::ZERO; 3];
                for (side, time) in times.iter_mut().enumerate() {
                    let before = context_switches();
                    *time = match side {
                        0 => bare.block(window, block).await,
                        1 => link_block(&link, window, block, false).await,
                        _ => link_block(&link, window, block, true).await,
                    };
                    switches[side] += context_switches() - before;
                }
                block_ratios.push(times[0].as_secs_f64() / times[1].as_secs_f64());
                for (sum, time) in total.iter_mut().zip(times) {
                    *sum += time;
                }
            }
            assert_eq!(link.state(), LinkState::Handshaken);
            link.disconnect(Duration::from_secs(2)).await;
            drop(events);
        });
        let n = (BLOCKS * block) as f64;
        let [bare, link, link_ex] = total.map(|t| n / t.as_secs_f64());
        let [cs_bare, cs_link, cs_ex] = switches.map(|c| c as f64 / n);
        block_ratios.sort_by(f64::total_cmp);
        let (lo, mid, hi) = (
            block_ratios[0],
            percentile(&block_ratios, 0.5),
            block_ratios[block_ratios.len() - 1],
        );
        println!("    {window:>2} in flight, {BLOCKS} x {block} round trips each:");
        println!("      bare client                            {bare:>10.0} round trips/s");
        println!("      relay-link send()                      {link:>10.0} round trips/s");
        println!(
            "      ratio relay-link / bare                {:>10.2}   target >= 0.60: {}",
            link / bare,
            verdict(link / bare >= 0.6)
        );
        println!(
            "      per-block ratios                        min {lo:.2}  median {mid:.2}  max {hi:.2}"
        );
        println!(
            "      diagnostic: callers on smol executor   {link_ex:>10.0} round trips/s  (ratio {:.2})",
            link_ex / bare
        );
        println!(
            "      context switches per round trip        bare {cs_bare:.1}, relay-link {cs_link:.1}, \
             callers on smol executor {cs_ex:.1} (all threads, server included)"
        );
        println!(
            "result round_trip_{window} bare={bare:.0} link={link:.0} ratio={:.3} \
             block_ratio_median={mid:.3} link_on_executor={link_ex:.0} \
             switches_bare={cs_bare:.2} switches_link={cs_link:.2} switches_on_executor={cs_ex:.2}",
            link / bare
        );
    }
}

// ----- (c) memory -------------------------------------------------------------------

/// Child role: a test connector serving until stdin closes. Prints its URL.
fn connector_role() {
    smol::block_on(async {
        let connector = Connector::start(ConnectorOptions::default())
            .await
            .expect("connector");
        connector.add_gateway(GATEWAY, Secret::new(SECRET));
        connector.allow_anonymous(true);
        println!("{}", connector.url());
        std::io::stdout().flush().expect("stdout");
        // Serve until the parent closes our stdin.
        smol::unblock(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        })
        .await;
        connector.shutdown();
    });
}

/// Starts the connector child; returns it and its URL.
fn spawn_connector() -> (Child, String) {
    let mut child = Process::new(std::env::current_exe().expect("current exe"))
        .env(ROLE, "connector")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("connector child");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("connector url");
    (child, url.trim().to_owned())
}

fn auth_config(url: &str) -> Config {
    Config::builder(url)
        .gateway_id(GATEWAY)
        .secret(SECRET)
        .identity("discord", "b1")
        .build()
        .expect("bench config")
}

/// Child role: opens `LINKS` links (or bare connections) against a
/// connector grandchild and prints the RSS they added.
fn memory_role(bare: bool) {
    let (mut connector, url) = spawn_connector();
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .parse()
        .expect("connector address");
    smol::block_on(async {
        // Warm-up: one connection of the same kind, kept open, so runtime
        // threads and one-time allocations are in the baseline.
        let mut links = Vec::new();
        let mut sockets = Vec::new();
        let config = Some(WebSocketConfig::default().read_buffer_size(SHELL_READ_BUFFER));
        if bare {
            sockets.push(bare_connect(addr, config).await);
        } else {
            let (link, mut events) = RelayLink::spawn(auth_config(&url), options()).expect("spawn");
            handshaken(&mut events).await;
            links.push((link, events));
        }
        smol::Timer::after(Duration::from_millis(200)).await;
        let before = rss_kib();
        let start = Instant::now();
        for _ in 0..LINKS / LINK_BATCH {
            if bare {
                let batch = (0..LINK_BATCH).map(|_| bare_connect(addr, config));
                sockets.extend(futures_util::future::join_all(batch).await);
            } else {
                let mut batch: Vec<_> = (0..LINK_BATCH)
                    .map(|_| RelayLink::spawn(auth_config(&url), options()).expect("spawn"))
                    .collect();
                for (_, events) in &mut batch {
                    handshaken(events).await;
                }
                links.extend(batch);
            }
        }
        let opened = start.elapsed();
        // Idle: let the writers and readers settle.
        smol::Timer::after(Duration::from_millis(500)).await;
        let after = rss_kib();
        // Not counting the warm-up connection.
        let up = if bare {
            sockets.len() - 1
        } else {
            links[1..]
                .iter()
                .filter(|(l, _)| l.state() == LinkState::Handshaken)
                .count()
        };
        println!(
            "memory kind={} links={up} before_kib={before} after_kib={after} open_ms={}",
            if bare { "bare" } else { "link" },
            opened.as_millis()
        );
        std::io::stdout().flush().expect("stdout");
    });
    drop(connector.stdin.take());
    let _ = connector.wait();
}

/// Runs a memory role in a fresh process and parses its report.
fn measure_memory(role: &str) -> (usize, u64, u64, u64) {
    let output = Process::new(std::env::current_exe().expect("current exe"))
        .env(ROLE, role)
        .stderr(Stdio::inherit())
        .output()
        .expect("memory child");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("memory "))
        .unwrap_or_else(|| panic!("memory child ({role}) printed no report: {text}"));
    let field = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    (
        field("links") as usize,
        field("before_kib"),
        field("after_kib"),
        field("open_ms"),
    )
}

fn memory() {
    let (links, before, after, open_ms) = measure_memory("memory");
    let (bare_n, bare_before, bare_after, _) = measure_memory("memory-bare");
    let per_link = (after.saturating_sub(before)) as f64 / links as f64;
    let per_bare = (bare_after.saturating_sub(bare_before)) as f64 / bare_n as f64;
    println!();
    println!(
        "(c) memory: {LINKS} idle handshaken links in one process against one test \
         Connector (child process, not counted); RSS from /proc/self/status"
    );
    println!(
        "    relay-link: {links} links up, RSS {before} -> {after} KiB (opened in {open_ms} ms)"
    );
    println!(
        "    per link                                 {per_link:>10.1} KiB   target <= 64 KiB: {}",
        verdict(per_link <= 64.0)
    );
    println!(
        "    bare async-tungstenite connection        {per_bare:>10.1} KiB   ({bare_n} open, same \
         {} KiB read buffer as the shell, for reference)",
        SHELL_READ_BUFFER / 1024
    );
    println!("result memory links={links} per_link_kib={per_link:.1} bare_kib={per_bare:.1}");
}

// ----- (d) reconnect ------------------------------------------------------------------

fn reconnect() {
    let base = Duration::from_millis(1);
    let cap = Duration::from_millis(2);
    let mut mirror = Backoff::new(base, cap, SEED);
    let mut net = Vec::new();
    let mut detect = Vec::new();
    let mut raw = Vec::new();
    let mut delays = Duration::ZERO;
    smol::block_on(async {
        let connector = Connector::start(ConnectorOptions::default())
            .await
            .expect("connector");
        connector.add_gateway(GATEWAY, Secret::new(SECRET));
        let config = Config::builder(connector.url())
            .gateway_id(GATEWAY)
            .secret(SECRET)
            .identity("discord", "b1")
            .backoff_base(base)
            .backoff_max(cap)
            .build()
            .expect("config");
        let (link, mut events) = RelayLink::spawn(config, options()).expect("spawn");
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
    });
    for v in [&mut net, &mut detect, &mut raw] {
        v.sort_by(f64::total_cmp);
    }
    let med = percentile(&net, 0.5);
    println!();
    println!(
        "(d) reconnect: Connector::drop_connections (no close frame) -> next Handshaken \
         state seen by the app, minus the backoff delay the core chose (base 1 ms, \
         cap 2 ms, mirrored from the seed); test Connector in this process; \
         {RECONNECTS} reconnects"
    );
    println!(
        "    drop -> Retrying seen (detection)        median {:>6.2} ms  p90 {:>6.2} ms",
        percentile(&detect, 0.5),
        percentile(&detect, 0.9)
    );
    println!(
        "    drop -> Handshaken (raw)                 median {:>6.2} ms  p90 {:>6.2} ms  \
         (mean backoff delay {:.2} ms)",
        percentile(&raw, 0.5),
        percentile(&raw, 0.9),
        delays.as_secs_f64() * 1e3 / RECONNECTS as f64
    );
    println!(
        "    reconnect latency minus backoff          median {med:>6.2} ms  p90 {:>6.2} ms  \
         min {:.2} ms   target median <= 5 ms: {}",
        percentile(&net, 0.9),
        net[0],
        verdict(med <= 5.0)
    );
    println!(
        "result reconnect median_ms={med:.3} p90_ms={:.3} detect_ms={:.3} min_ms={:.3}",
        percentile(&net, 0.9),
        percentile(&detect, 0.5),
        net[0]
    );
}
