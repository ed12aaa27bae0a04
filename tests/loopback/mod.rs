//! Shared kit of the loopback tests: a real [`RelayLink`] against the test
//! [`Connector`] on 127.0.0.1, with millisecond timings.
//!
//! Every wait has a deadline ([`deadline`], [`Watch`], [`wait_seen`]); a
//! deadline is a generous upper bound for something that should happen
//! within milliseconds, so a loaded machine slows the tests down but does
//! not fail them. Timing assertions are lower bounds (a timer can fire late,
//! never early) unless the contract itself demands an upper bound.

// Each test binary uses a different part of the kit.
#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod tls;

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relay_link::config::{Config, ConfigBuilder};
use relay_link::shell::{Event, Events, Options, RelayLink, StateChange};
use relay_link::testing::{Connector, ConnectorOptions, Seen};
use relay_link::token::Secret;
use relay_link::trace::{render_input, Step, Trace};
use relay_link::{Command, FatalReport, LinkState, PlatformState, RequestError, Timer};
use serde_json::{Map, Value};
use smol::stream::StreamExt as _;

/// The gateway every test uses.
pub const GW: &str = "gw-1";
/// Its secret (checked to never leak into a trace).
pub const SECRET: &str = "loopback-s3cret-9f2c";
/// The upper bound for anything that should happen "soon": generous, so
/// that only a real hang fails a test.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for something that must *not* happen.
pub const QUIET: Duration = Duration::from_millis(400);
/// The bound on a whole test body.
pub const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Runs a test body on smol, failing it if it takes longer than
/// [`TEST_LIMIT`].
pub fn run(body: impl Future<Output = ()>) {
    smol::block_on(deadline(TEST_LIMIT, "the whole test", body));
}

/// Awaits `f`, panicking with `what` if it takes longer than `limit`.
pub async fn deadline<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    match within(limit, f).await {
        Some(value) => value,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Awaits `f` for at most `limit`; `None` when it took longer.
pub async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(f.await) }, async {
        smol::Timer::after(limit).await;
        None
    })
    .await
}

/// Sleeps (on smol's reactor).
pub async fn sleep(duration: Duration) {
    smol::Timer::after(duration).await;
}

/// A connector that knows [`GW`] with [`SECRET`].
pub async fn connector() -> Connector {
    connector_with(ConnectorOptions::default()).await
}

/// Like [`connector`], with options.
pub async fn connector_with(options: ConnectorOptions) -> Connector {
    let connector = deadline(WAIT, "the connector to start", Connector::start(options))
        .await
        .expect("the connector binds 127.0.0.1");
    connector.add_gateway(GW, Secret::new(SECRET));
    connector
}

/// The fast configuration: auth on, fronting `discord:b1` then `slack:B2`,
/// every timing in milliseconds. The stable window is long (no reset
/// unless a test asks for one); keepalive is relaxed enough that a loaded
/// machine does not trip it.
pub fn fast_config(connector: &Connector) -> ConfigBuilder {
    Config::builder(connector.url())
        .gateway_id(GW)
        .secret(SECRET)
        .identity("discord", "b1")
        .identity("slack", "B2")
        .backoff_base(Duration::from_millis(20))
        .backoff_max(Duration::from_millis(200))
        .stable_after(Duration::from_secs(30))
        .connect_timeout(Duration::from_millis(2_000))
        .handshake_timeout(Duration::from_millis(600))
        .outbound_timeout(Duration::from_millis(2_000))
        .ping_interval(Duration::from_millis(200))
        .idle_timeout(Duration::from_millis(1_500))
        .going_idle_timeout(Duration::from_millis(600))
        .dormant_redial(Duration::from_millis(150))
        .max_hold(Duration::from_secs(10))
        .drain_grace(Duration::from_millis(200))
}

/// Spawns a link with a fixed seed and no recording.
pub fn spawn(config: ConfigBuilder) -> (RelayLink, Watch) {
    spawn_with(
        config,
        Options {
            seed: Some(7),
            ..Options::default()
        },
    )
}

/// Spawns a link with these options.
pub fn spawn_with(config: ConfigBuilder, options: Options) -> (RelayLink, Watch) {
    let config = config.build().expect("the test configuration is valid");
    let (link, events) = RelayLink::spawn(config, options).expect("the link spawns");
    (link, Watch::new(events))
}

/// A fresh trace path under the target's temporary directory.
pub fn trace_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("loopback-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Spawns a link that records its trace to `path`.
pub fn spawn_recorded(config: ConfigBuilder, path: &Path) -> (RelayLink, Watch) {
    spawn_with(
        config,
        Options {
            seed: Some(7),
            record: Some(path.to_owned()),
            ..Options::default()
        },
    )
}

/// What `send` gives for a request the connector answered with `result`
/// (a JSON object).
pub fn answered(result: Value) -> Result<Map<String, Value>, RequestError> {
    match result {
        Value::Object(map) => Ok(map),
        other => panic!("a result is an object, not {other}"),
    }
}

/// `{"op": op, …fields}` as an action map.
pub fn action(op: &str, fields: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("op".into(), Value::from(op));
    if let Value::Object(extra) = fields {
        map.extend(extra);
    }
    map
}

/// Waits until `pred` holds for what the connector saw.
pub async fn wait_seen(connector: &Connector, what: &str, pred: impl Fn(&Seen) -> bool) {
    assert!(
        connector.wait_until(WAIT, pred).await,
        "timed out waiting for the connector to see {what}; it saw {:#?}",
        summary(&connector.seen())
    );
}

/// A short, readable account of what the connector saw (for failures).
pub fn summary(seen: &Seen) -> Vec<String> {
    let mut lines: Vec<String> = seen
        .dials
        .iter()
        .map(|d| format!("dial {:?} conn {:?}", d.outcome, d.connection))
        .collect();
    lines.extend(
        seen.frames
            .iter()
            .map(|f| format!("frame conn {} {}", f.connection, f.frame)),
    );
    lines.extend(
        seen.closes
            .iter()
            .map(|c| format!("close conn {} {:?} {:?}", c.connection, c.code, c.reason)),
    );
    lines
}

/// The number of dials of [`GW`] the connector saw.
pub fn dials(connector: &Connector) -> usize {
    connector.seen().dials.len()
}

/// Reads one link's events, keeping the states and fatal reports it saw.
///
/// Pulling an event for one purpose never loses one needed for another:
/// states and fatals are recorded in [`states`](Watch::states) and
/// [`fatals`](Watch::fatals), every other event goes to a backlog that
/// [`expect`](Watch::expect) searches first.
pub struct Watch {
    events: Events,
    backlog: VecDeque<Event>,
    /// Every (state, platform) change, in order, with when it was pulled.
    pub states: Vec<(LinkState, PlatformState)>,
    /// When each state change was pulled (parallel to `states`).
    pub state_times: Vec<Instant>,
    /// Every state change with its cause (parallel to `states`).
    pub changes: Vec<StateChange>,
    /// Every fatal report.
    pub fatals: Vec<FatalReport>,
    /// Whether the stream ended.
    pub ended: bool,
}

impl Watch {
    pub fn new(events: Events) -> Self {
        Self {
            events,
            backlog: VecDeque::new(),
            states: Vec::new(),
            state_times: Vec::new(),
            changes: Vec::new(),
            fatals: Vec::new(),
            ended: false,
        }
    }

    /// The next event from the stream within `limit`: `Some(None)` when the
    /// stream ended, `None` on timeout. States and fatals are recorded.
    async fn pull(&mut self, limit: Duration) -> Option<Option<Event>> {
        if self.ended {
            return Some(None);
        }
        let event = within(limit, self.events.next()).await?;
        match &event {
            None => self.ended = true,
            Some(
                event @ Event::State {
                    state, platform, ..
                },
            ) => {
                self.states.push((*state, *platform));
                self.state_times.push(Instant::now());
                self.changes.extend(event.state_change());
            }
            Some(Event::Fatal(report)) => self.fatals.push(report.clone()),
            Some(_) => {}
        }
        Some(event)
    }

    /// Pulls until the link reports `state`; returns when that happened.
    pub async fn until_state(&mut self, state: LinkState) -> Instant {
        self.until_state_within(state, WAIT).await
    }

    /// Like [`until_state`](Watch::until_state) with its own bound.
    pub async fn until_state_within(&mut self, state: LinkState, limit: Duration) -> Instant {
        let start = self.states.len();
        let end = Instant::now() + limit;
        loop {
            if let Some(i) = self.states[start..].iter().position(|(s, _)| *s == state) {
                return self.state_times[start + i];
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.pull(left).await {
                Some(Some(Event::State { .. })) => {}
                Some(Some(event)) => self.backlog.push_back(event),
                Some(None) => panic!(
                    "the event stream ended before state {state}; states: {:?}",
                    self.states
                ),
                None => panic!(
                    "no state {state} within {limit:?}; states: {:?}",
                    self.states
                ),
            }
        }
    }

    /// The first non-state event (from the backlog, then the stream) for
    /// which `pred` holds; earlier events that do not match stay in the
    /// backlog.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).expect("indexed");
        }
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.pull(left).await {
                Some(Some(Event::State { .. })) => {}
                Some(Some(event)) if pred(&event) => return event,
                Some(Some(event)) => self.backlog.push_back(event),
                Some(None) => panic!("the event stream ended before {what}"),
                None => panic!(
                    "no {what} within {WAIT:?}; states: {:?}, backlog: {:?}",
                    self.states, self.backlog
                ),
            }
        }
    }

    /// Pulls everything that arrives during `duration` (into the backlog).
    pub async fn collect_for(&mut self, duration: Duration) {
        let end = Instant::now() + duration;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.pull(left).await {
                Some(Some(Event::State { .. })) => {}
                Some(Some(event)) => self.backlog.push_back(event),
                Some(None) | None => return,
            }
        }
    }

    /// Pulls until the stream ends (within [`WAIT`]).
    pub async fn until_end(&mut self) {
        let end = Instant::now() + WAIT;
        while !self.ended {
            let left = end.saturating_duration_since(Instant::now());
            match self.pull(left).await {
                Some(Some(Event::State { .. })) | Some(None) => {}
                Some(Some(event)) => self.backlog.push_back(event),
                None => panic!(
                    "the event stream did not end within {WAIT:?}; states: {:?}",
                    self.states
                ),
            }
        }
    }

    /// The event stream itself (what was pulled already stays here).
    pub fn into_events(self) -> Events {
        self.events
    }

    /// Takes the non-state events pulled so far but not expected.
    pub fn take_backlog(&mut self) -> Vec<Event> {
        self.backlog.drain(..).collect()
    }

    /// How many times the link entered `state` so far.
    pub fn entered(&self, state: LinkState) -> usize {
        self.states.iter().filter(|(s, _)| *s == state).count()
    }
}

/// Disconnects `link` with a 1 s budget and waits for its event stream
/// to end.
pub async fn disconnect_and_end(link: &RelayLink, watch: &mut Watch) {
    deadline(
        WAIT,
        "the disconnect",
        link.disconnect(Duration::from_secs(1)),
    )
    .await;
    watch.until_end().await;
}

/// Whether `event` is an inbound delivery.
pub fn is_inbound(event: &Event) -> bool {
    matches!(event, Event::Inbound { .. })
}

/// A spawned link that reached Handshaken, with its connector.
pub struct Online {
    pub connector: Connector,
    pub link: RelayLink,
    pub watch: Watch,
}

/// Starts a connector and a link with `tune` applied to the fast
/// configuration, and waits for the handshake.
pub async fn online(tune: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Online {
    let connector = connector().await;
    let (link, mut watch) = spawn(tune(fast_config(&connector)));
    watch.until_state(LinkState::Handshaken).await;
    Online {
        connector,
        link,
        watch,
    }
}

/// One step of a replayed trace: what the core did with one recorded input.
#[derive(Debug)]
pub struct Replayed {
    /// When the input was handled, from the link's start.
    pub at: Duration,
    /// The input in its one-line text form (`timeout` for a timer step).
    pub input: String,
    /// The commands it produced.
    pub commands: Vec<Command>,
    /// The next timer afterwards, from the link's start.
    pub next: Option<(Duration, Timer)>,
    /// The state afterwards.
    pub state: LinkState,
}

/// Reads and parses the trace the shell recorded at `path`.
pub fn read_trace(path: &Path) -> (String, Trace) {
    let text = std::fs::read_to_string(path).expect("the trace file exists");
    let trace = Trace::parse(&text).expect("the recorded trace parses");
    (text, trace)
}

/// Replays `trace` through a fresh core, step by step.
pub fn replay_steps(trace: &Trace) -> Vec<Replayed> {
    let mut steps = Vec::new();
    trace
        .run(|entry, commands, link| {
            let input = match &entry.step {
                Step::Input(input) => render_input(input),
                Step::Timeout => "timeout".to_owned(),
                other => format!("{other:?}"),
            };
            steps.push(Replayed {
                at: entry.at,
                input,
                commands,
                next: link
                    .poll_timeout()
                    .map(|(at, timer)| (at.saturating_duration_since(link.start()), timer)),
                state: link.state(),
            });
        })
        .expect("the recorded trace replays");
    steps
}

/// When each dial was issued, from the replayed steps.
pub fn dial_times(steps: &[Replayed]) -> Vec<Duration> {
    steps
        .iter()
        .flat_map(|s| {
            s.commands
                .iter()
                .filter(|c| matches!(c, Command::Dial { .. }))
                .map(move |_| s.at)
        })
        .collect()
}

/// Every backoff delay the core chose, in order: for each step that
/// entered Retrying, its backoff deadline minus the step's time.
pub fn backoff_delays(steps: &[Replayed]) -> Vec<Duration> {
    steps
        .iter()
        .filter(|s| {
            s.commands
                .contains(&Command::StateChanged(LinkState::Retrying))
        })
        .filter_map(|s| match s.next {
            Some((deadline, Timer::Backoff)) => Some(deadline.saturating_sub(s.at)),
            _ => None,
        })
        .collect()
}
