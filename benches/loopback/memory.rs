//! (c) RSS per idle, handshaken link, 1,000 links in one fresh process
//! against one test `Connector` in a grandchild process (not counted),
//! against 1,000 bare connections of the same runtime; plus the live heap
//! per link by size class (the counting allocator), to say where the bytes
//! go.

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use relay_link::config::Config;
use relay_link::shell::{Events, Options, RelayLink, Runtime};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use relay_link::LinkState;
use smol::LocalExecutor;

use crate::bare::{self, shell_like_config, SHELL_READ_BUFFER};
use crate::common::{handshaken, load_average, options, rss_kib, thread_names, verdict};
use crate::drive::{start, Drive};
use crate::{alloc, ROLE};

const GATEWAY: &str = "gw-bench";
const SECRET: &str = "bench-secret";
const LINKS: usize = 1_000;
/// Links opened before waiting for their handshakes (the listen backlog).
const LINK_BATCH: usize = 100;
/// The event capacity of the diagnostic `small-channel` kind.
const SMALL_CHANNEL: usize = 16;
/// Target of (c), KiB per idle link.
const TARGET_KIB: f64 = 32.0;

/// Child role: a test connector serving until stdin closes. Prints its URL.
pub fn connector_role() {
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

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// How one kind of connection is opened, checked and left idle.
struct Kind<'a, T> {
    name: &'a str,
    /// Opens `n` connections, each handshaken (links) or hello'd (bare).
    open: Box<dyn Fn(usize) -> Boxed<'a, Vec<T>> + 'a>,
    up: fn(&T) -> bool,
    sleep: fn(Duration) -> Boxed<'static, ()>,
}

/// Opens one warm-up connection, then `LINKS` more in batches; prints the
/// RSS and live heap they added.
async fn measure<T>(kind: Kind<'_, T>) {
    // Warm-up: one connection of the same kind, kept open, so runtime
    // threads and one-time allocations are in the baseline.
    let mut open = (kind.open)(1).await;
    (kind.sleep)(Duration::from_millis(200)).await;
    let before = rss_kib();
    let heap_before = alloc::snapshot();
    let start = Instant::now();
    for _ in 0..LINKS / LINK_BATCH {
        open.extend((kind.open)(LINK_BATCH).await);
    }
    let opened = start.elapsed();
    // Idle: let the drivers settle.
    (kind.sleep)(Duration::from_millis(500)).await;
    let after = rss_kib();
    let heap = alloc::snapshot();
    // Not counting the warm-up connection.
    let up = open[1..].iter().filter(|c| (kind.up)(c)).count();
    println!(
        "memory kind={} links={up} before_kib={before} after_kib={after} open_ms={} \
         heap_bytes={} classes={} big={} threads={}",
        kind.name,
        opened.as_millis(),
        heap.bytes_since(&heap_before),
        heap.classes_since(&heap_before, up),
        heap.big_since(&heap_before, up),
        thread_names().join(",")
    );
    std::io::stdout().flush().expect("stdout");
    drop(open);
}

fn link_up(link: &(RelayLink, Events)) -> bool {
    link.0.state() == LinkState::Handshaken
}

fn smol_sleep(time: Duration) -> Boxed<'static, ()> {
    Box::pin(async move {
        smol::Timer::after(time).await;
    })
}

/// `n` links started by `start`, each handshaken.
async fn links(n: usize, start: impl Fn() -> (RelayLink, Events)) -> Vec<(RelayLink, Events)> {
    let mut batch: Vec<_> = (0..n).map(|_| start()).collect();
    for (_, events) in &mut batch {
        handshaken(events).await;
    }
    batch
}

/// Child role: opens `LINKS` links (or bare connections) of `kind`
/// against a connector grandchild and prints what they added.
pub fn memory_role(kind: &str) {
    let (mut connector, url) = spawn_connector();
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .parse()
        .expect("connector address");
    alloc::enable();
    let url = url.as_str();
    match kind {
        "smol" | "own" => {
            let ex = LocalExecutor::new();
            let drive = if kind == "smol" {
                Drive::Global
            } else {
                Drive::Local(&ex)
            };
            smol::block_on(ex.run(measure(Kind {
                name: kind,
                open: Box::new(move |n| Box::pin(links(n, move || start(drive, auth_config(url))))),
                up: link_up,
                sleep: smol_sleep,
            })));
        }
        // Diagnostic: the smol driver with a 16-event channel instead of
        // the default 256 (the channel's slots are preallocated).
        "small-channel" => smol::block_on(measure(Kind {
            name: kind,
            open: Box::new(move |n| {
                Box::pin(links(n, move || {
                    let options = Options {
                        event_capacity: SMALL_CHANNEL,
                        ..options(Runtime::Smol)
                    };
                    RelayLink::spawn(auth_config(url), options).expect("spawn")
                }))
            }),
            up: link_up,
            sleep: smol_sleep,
        })),
        "bare" => smol::block_on(measure(Kind {
            name: kind,
            open: Box::new(move |n| {
                let batch = (0..n).map(|_| bare::connect_smol(addr, Some(shell_like_config())));
                Box::pin(futures_util::future::join_all(batch))
            }),
            up: |_| true,
            sleep: smol_sleep,
        })),
        #[cfg(feature = "tokio")]
        "tokio" | "bare-tokio" => tokio_memory(kind, url, addr),
        _ => panic!("unknown memory kind {kind}"),
    }
    drop(connector.stdin.take());
    let _ = connector.wait();
}

/// The tokio kinds: a current-thread runtime on this thread, drivers (or
/// bare connections) as its tasks.
#[cfg(feature = "tokio")]
fn tokio_memory(kind: &str, url: &str, addr: SocketAddr) {
    use crate::tokio_side;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let handle = runtime.handle().clone();
    let sleep: fn(Duration) -> Boxed<'static, ()> = |time| Box::pin(tokio::time::sleep(time));
    if kind == "tokio" {
        runtime.block_on(measure(Kind {
            name: kind,
            open: Box::new(move |n| {
                let handle = handle.clone();
                Box::pin(links(n, move || {
                    tokio_side::start(&handle, auth_config(url))
                }))
            }),
            up: link_up,
            sleep,
        }));
    } else {
        runtime.block_on(measure(Kind {
            name: kind,
            open: Box::new(move |n| {
                let batch = (0..n).map(|_| tokio_side::connect(addr, Some(shell_like_config())));
                Box::pin(futures_util::future::join_all(batch))
            }),
            up: |_| true,
            sleep,
        }));
    }
}

/// One memory role's report, from its child process.
struct Report {
    links: usize,
    before: u64,
    after: u64,
    open_ms: u64,
    heap_bytes: i64,
    classes: String,
    big: String,
    threads: String,
}

impl Report {
    fn per_link_kib(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.links.max(1) as f64
    }

    fn heap_kib(&self) -> f64 {
        self.heap_bytes as f64 / 1024.0 / self.links.max(1) as f64
    }
}

/// Runs a memory role in a fresh process and parses its report.
fn measure_role(kind: &str) -> Report {
    let output = Process::new(std::env::current_exe().expect("current exe"))
        .env(ROLE, format!("memory-{kind}"))
        .stderr(Stdio::inherit())
        .output()
        .expect("memory child");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("memory "))
        .unwrap_or_else(|| panic!("memory child ({kind}) printed no report: {text}"));
    let field = |key: &str| -> String {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            .to_owned()
    };
    let number = |key: &str| -> i64 {
        field(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} in {line}"))
    };
    Report {
        links: number("links") as usize,
        before: number("before_kib") as u64,
        after: number("after_kib") as u64,
        open_ms: number("open_ms") as u64,
        heap_bytes: number("heap_bytes"),
        classes: field("classes"),
        big: field("big"),
        threads: field("threads"),
    }
}

/// Prints one variant's rows and its `result` line.
fn variant(name: &str, label: &str, link: &Report, bare: &Report) {
    let (per_link, per_bare) = (link.per_link_kib(), bare.per_link_kib());
    println!("    {label}");
    println!(
        "      {} links up, RSS {} -> {} KiB (opened in {} ms); threads: {}",
        link.links, link.before, link.after, link.open_ms, link.threads
    );
    println!(
        "      RSS per link {per_link:>7.1} KiB  (bare {per_bare:.1} KiB, ratio {:.2})  \
         target <= {TARGET_KIB} KiB: {}",
        per_link / per_bare,
        verdict(per_link <= TARGET_KIB)
    );
    println!(
        "      live heap per link {:>6.1} KiB (bare {:.1} KiB); by size class (bytes/blocks per link): {}",
        link.heap_kib(),
        bare.heap_kib(),
        link.classes
    );
    println!(
        "      blocks >= 2 KiB by exact size (per link): {}",
        link.big
    );
    println!(
        "      bare's size classes: {}; big blocks: {}",
        bare.classes, bare.big
    );
    println!(
        "result memory_{name} links={} per_link_kib={per_link:.1} bare_kib={per_bare:.1} ratio={:.3} \
         heap_kib={:.1} bare_heap_kib={:.1}",
        link.links,
        per_link / per_bare,
        link.heap_kib(),
        bare.heap_kib()
    );
}

pub fn run() {
    println!();
    println!(
        "(c) memory: {LINKS} idle handshaken links per fresh child process against one test \
         Connector (grandchild, not counted); RSS from /proc/self/status, live heap from a \
         counting allocator; bare = {LINKS} connections of the same runtime (hello sent, \
         descriptor received) with the shell's {} KiB read buffer; load {}",
        SHELL_READ_BUFFER / 1024,
        load_average()
    );
    println!(
        "    size_of::<Event>() = {} B: a bounded event channel of {} preallocates {} slots of it",
        std::mem::size_of::<relay_link::shell::Event>(),
        relay_link::shell::DEFAULT_EVENT_CAPACITY,
        relay_link::shell::DEFAULT_EVENT_CAPACITY
    );
    let bare = measure_role("bare");
    variant(
        "smol",
        "(i) smol driver (RelayLink::spawn):",
        &measure_role("smol"),
        &bare,
    );
    variant(
        "own",
        "(ii) RelayLink::new, drivers spawned on the app's executor:",
        &measure_role("own"),
        &bare,
    );
    let small = measure_role("small-channel");
    println!(
        "    diagnostic: smol driver with event_capacity {SMALL_CHANNEL}: RSS per link {:.1} KiB, \
         live heap {:.1} KiB; big blocks: {}",
        small.per_link_kib(),
        small.heap_kib(),
        small.big
    );
    println!(
        "result memory_small_channel per_link_kib={:.1} heap_kib={:.1}",
        small.per_link_kib(),
        small.heap_kib()
    );
    #[cfg(feature = "tokio")]
    variant(
        "tokio",
        "(iii) Runtime::Tokio, drivers tokio tasks (bare = tokio-tungstenite):",
        &measure_role("tokio"),
        &measure_role("bare-tokio"),
    );
}
