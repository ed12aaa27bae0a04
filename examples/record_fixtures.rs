//! Re-records the `fixtures/traces/recorded_*.jsonl` traces: each story is
//! a real session of the smol shell against the loopback test
//! [`Connector`], recorded with `Options::record` (seed 7, millisecond
//! timings).
//!
//! ```text
//! cargo run --example record_fixtures                 # every story
//! cargo run --example record_fixtures -- NAME…        # only these (without `recorded_`)
//! cargo run --example record_fixtures -- --list       # the story names
//! ```
//!
//! Each story checks, as it runs, that the session did what its name says
//! (and panics otherwise), and finally that the secret is not in the trace.
//! Re-recording changes the timings (real sessions jitter by fractions of
//! a millisecond), the port in the header's URL and the request ids, so the
//! snapshots must be rewritten and re-read afterwards (see
//! `fixtures/README.md`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use relay_link::config::{Config, ConfigBuilder};
use relay_link::shell::{Acceptance, Event, Events, Options, RelayLink};
use relay_link::testing::{Connector, ConnectorOptions, Delivery, Seen};
use relay_link::token::Secret;
use relay_link::{LinkState, PlatformState, RequestError};
use serde_json::{json, Value};
use smol::stream::StreamExt as _;

const GW: &str = "gw-rec";
/// Grepped for in every trace written.
const SECRET: &str = "rec-s3cret-71f0a2";
/// Upper bound of any one wait.
const WAIT: Duration = Duration::from_secs(5);
/// A short pause between the steps of a story (ms), so that its rendered
/// timeline reads step by step instead of all at `+0.001s`.
const PAUSE: u64 = 30;

type StoryFn = fn(&Path) -> Pin<Box<dyn Future<Output = ()>>>;

/// The stories, by file name without `recorded_` and `.jsonl`.
const STORIES: &[(&str, StoryFn)] = &[
    ("clean_handshake_with_two_identities", |p| {
        Box::pin(clean_handshake(p.to_owned()))
    }),
    ("drop_and_backoff_reconnect", |p| {
        Box::pin(drop_and_reconnect(p.to_owned()))
    }),
    ("accept_then_close_climbs_the_backoff_ladder", |p| {
        Box::pin(accept_then_close(p.to_owned()))
    }),
    ("4401_before_any_handshake_backs_off", |p| {
        Box::pin(cold_start_4401(p.to_owned()))
    }),
    ("4401_expired_is_an_ordinary_drop", |p| {
        Box::pin(expired_4401(p.to_owned()))
    }),
    (
        "provisional_4401_recovered_by_the_fresh_token_redial",
        |p| Box::pin(provisional_4401(p.to_owned())),
    ),
    ("second_strike_revokes_and_disables", |p| {
        Box::pin(second_strike(p.to_owned()))
    }),
    ("handshake_timeout_closes_and_backs_off", |p| {
        Box::pin(handshake_timeout(p.to_owned()))
    }),
    ("outbound_timeout_settles_as_ambiguous", |p| {
        Box::pin(outbound_timeout(p.to_owned()))
    }),
    ("in_flight_request_lost_in_a_drop", |p| {
        Box::pin(lost_in_a_drop(p.to_owned()))
    }),
    (
        "buffered_inbound_redelivered_is_acked_and_delivered_once",
        |p| Box::pin(redelivered(p.to_owned())),
    ),
    ("going_dormant_and_waking_on_the_dormant_cadence", |p| {
        Box::pin(dormant(p.to_owned()))
    }),
    ("redial_hold_parks_the_redial_until_release", |p| {
        Box::pin(redial_hold(p.to_owned()))
    }),
    ("graceful_disconnect_against_a_stalled_connector", |p| {
        Box::pin(stalled_disconnect(p.to_owned()))
    }),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in STORIES {
            println!("recorded_{name}");
        }
        return;
    }
    let unknown: Vec<&String> = args
        .iter()
        .filter(|a| !STORIES.iter().any(|(name, _)| name == a))
        .collect();
    assert!(
        unknown.is_empty(),
        "unknown stories {unknown:?} (try --list)"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/traces");
    for (name, story) in STORIES {
        if !args.is_empty() && !args.iter().any(|a| a == name) {
            continue;
        }
        let path = dir.join(format!("recorded_{name}.jsonl"));
        let started = Instant::now();
        smol::block_on(story(&path));
        let text = std::fs::read_to_string(&path).expect("the trace was written");
        assert!(!text.contains(SECRET), "{name}: the secret is in the trace");
        println!(
            "recorded_{name}.jsonl: {} steps in {:?}",
            text.lines().count() - 1,
            started.elapsed()
        );
    }
}

/// The recording configuration: two identities, auth on, millisecond
/// timings; keepalive slow enough that no ping clutters a short story.
fn config(connector: &Connector) -> ConfigBuilder {
    Config::builder(connector.url())
        .gateway_id(GW)
        .secret(SECRET)
        .identity("discord", "b1")
        .identity("slack", "B2")
        .backoff_base(Duration::from_millis(50))
        .backoff_max(Duration::from_millis(400))
        .stable_after(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(2))
        .handshake_timeout(Duration::from_secs(5))
        .outbound_timeout(Duration::from_secs(5))
        .ping_interval(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(20))
        .going_idle_timeout(Duration::from_secs(1))
        .dormant_redial(Duration::from_millis(200))
        .max_hold(Duration::from_secs(10))
        .drain_grace(Duration::from_millis(300))
}

async fn connector() -> Connector {
    let connector = Connector::start(ConnectorOptions::default())
        .await
        .expect("the connector binds 127.0.0.1");
    connector.add_gateway(GW, Secret::new(SECRET));
    connector
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    smol::future::or(async { Some(f.await) }, async {
        smol::Timer::after(WAIT).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

async fn sleep(ms: u64) {
    smol::Timer::after(Duration::from_millis(ms)).await;
}

/// One recorded session: the link, its events and the connector.
struct Session {
    connector: Connector,
    link: RelayLink,
    events: Events,
    /// Accept buffered deliveries as soon as they arrive.
    auto_accept: bool,
    /// Acceptances kept while `auto_accept` is off.
    held: Vec<Acceptance>,
    inbound: usize,
    states: Vec<(LinkState, PlatformState)>,
}

impl Session {
    fn start(connector: Connector, config: ConfigBuilder, path: &Path) -> Session {
        let config = config.build().expect("a valid configuration");
        let options = Options {
            seed: Some(7),
            record: Some(path.to_owned()),
            ..Options::default()
        };
        let (link, events) = RelayLink::spawn(config, options).expect("the link spawns");
        Session {
            connector,
            link,
            events,
            auto_accept: true,
            held: Vec::new(),
            inbound: 0,
            states: Vec::new(),
        }
    }

    /// Pulls events until `pred` holds for one.
    async fn until(&mut self, what: &str, mut pred: impl FnMut(&Event) -> bool) {
        loop {
            let Some(event) = within(what, self.events.next()).await else {
                panic!("the link ended before {what}; states {:?}", self.states);
            };
            let done = pred(&event);
            match event {
                Event::State {
                    state, platform, ..
                } => self.states.push((state, platform)),
                Event::Inbound { acceptance, .. } => {
                    self.inbound += 1;
                    self.take(acceptance);
                }
                Event::Passthrough { acceptance, .. } => self.take(acceptance),
                _ => {}
            }
            if done {
                return;
            }
        }
    }

    fn take(&mut self, acceptance: Option<Acceptance>) {
        match acceptance {
            Some(a) if self.auto_accept => a.accept(),
            Some(a) => self.held.push(a),
            None => {}
        }
    }

    async fn until_state(&mut self, wanted: LinkState) {
        self.until(
            &format!("state {wanted}"),
            |e| matches!(e, Event::State { state, .. } if *state == wanted),
        )
        .await;
    }

    /// Waits for a complete handshake: both identities' descriptors.
    async fn handshaken(&mut self) {
        self.until(
            "the second descriptor",
            |e| matches!(e, Event::Descriptor(d) if d.platform == "slack"),
        )
        .await;
    }

    async fn seen(&self, what: &str, pred: impl Fn(&Seen) -> bool) {
        assert!(
            self.connector.wait_until(WAIT, pred).await,
            "the connector never saw {what}: {:#?}",
            self.connector.seen()
        );
    }

    /// Disconnects deliberately and waits for the link to end; returns
    /// how many inbound messages were delivered in all.
    async fn disconnect(mut self) -> usize {
        sleep(PAUSE).await;
        within(
            "the disconnect",
            self.link.disconnect(Duration::from_secs(2)),
        )
        .await;
        self.ended(LinkState::Closed).await
    }

    /// Drains the events until the stream ends; the link must be `last`.
    /// Returns how many inbound messages were delivered in all.
    async fn ended(&mut self, last: LinkState) -> usize {
        while let Some(event) = within("the end of the events", self.events.next()).await {
            match event {
                Event::State {
                    state, platform, ..
                } => self.states.push((state, platform)),
                Event::Inbound { .. } => self.inbound += 1,
                _ => {}
            }
        }
        assert_eq!(self.link.state(), last, "states {:?}", self.states);
        self.inbound
    }
}

async fn clean_handshake(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    let result = s
        .link
        .send(json!({"op": "send", "text": "hi"}), Some("slack"))
        .await
        .expect("the connector's result");
    assert_eq!(result["success"], true, "{result:?}");
    let hellos: Vec<Value> = s
        .connector
        .seen()
        .frames_of("hello")
        .map(|f| f.frame.clone())
        .collect();
    assert_eq!(hellos.len(), 2);
    s.disconnect().await;
}

async fn drop_and_reconnect(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    connector.drop_connections(GW);
    s.until_state(LinkState::Retrying).await;
    s.handshaken().await;
    sleep(PAUSE).await;
    assert_eq!(connector.seen().dials.len(), 2);
    s.disconnect().await;
}

async fn accept_then_close(path: PathBuf) {
    let connector = connector().await;
    connector.refuse_next(GW, 3, 1011, "internal error");
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    assert_eq!(
        connector.seen().dials.len(),
        4,
        "three refusals, then served"
    );
    s.disconnect().await;
}

async fn cold_start_4401(path: PathBuf) {
    // The connector does not know the gateway yet: 4401 unauthorized.
    let connector = Connector::start(ConnectorOptions::default())
        .await
        .expect("the connector binds");
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.seen("two refused dials", |seen| seen.dials.len() >= 2)
        .await;
    connector.add_gateway(GW, Secret::new(SECRET));
    s.handshaken().await;
    sleep(PAUSE).await;
    assert!(
        s.states
            .iter()
            .all(|(state, _)| *state != LinkState::Revoked),
        "a cold-start 4401 is never a revocation"
    );
    s.disconnect().await;
}

async fn expired_4401(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    connector.expire_token(GW);
    s.until_state(LinkState::Retrying).await;
    s.handshaken().await;
    sleep(PAUSE).await;
    s.disconnect().await;
}

async fn provisional_4401(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    connector.close_with(GW, 4401, "unauthorized");
    s.handshaken().await;
    sleep(PAUSE).await;
    assert_eq!(connector.seen().dials.len(), 2);
    assert!(
        !s.states
            .iter()
            .any(|(state, _)| *state == LinkState::Retrying),
        "the fresh-token re-dial does not wait out a backoff: {:?}",
        s.states
    );
    s.disconnect().await;
}

async fn second_strike(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    connector.revoke(GW);
    s.ended(LinkState::Disabled).await;
    assert_eq!(connector.seen().dials.len(), 2);
    sleep(200).await;
    assert_eq!(connector.seen().dials.len(), 2, "no dial once disabled");
}

async fn handshake_timeout(path: PathBuf) {
    let connector = connector().await;
    connector.withhold_descriptor(GW, true);
    let config = config(&connector).handshake_timeout(Duration::from_millis(200));
    let mut s = Session::start(connector.clone(), config, &path);
    s.until_state(LinkState::Retrying).await;
    connector.withhold_descriptor(GW, false);
    s.handshaken().await;
    sleep(PAUSE).await;
    assert_eq!(connector.seen().dials.len(), 2);
    s.disconnect().await;
}

async fn outbound_timeout(path: PathBuf) {
    let connector = connector().await;
    connector.set_result("prompt", None);
    let config = config(&connector).outbound_timeout(Duration::from_millis(200));
    let mut s = Session::start(connector.clone(), config, &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    let result = s
        .link
        .send(json!({"op": "prompt", "text": "?"}), Some("discord"))
        .await;
    assert_eq!(result, Err(RequestError::TimedOut));
    s.disconnect().await;
}

async fn lost_in_a_drop(path: PathBuf) {
    let connector = connector().await;
    connector.set_result("prompt", None);
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    let pending = s.link.request(json!({"op": "prompt", "text": "?"}), None);
    s.seen("the outbound frame", |seen| {
        seen.frames_of("outbound").count() == 1
    })
    .await;
    connector.drop_connections(GW);
    let result = within("the settlement", pending.settled()).await;
    assert_eq!(result, Err(RequestError::ConnectionLost));
    s.handshaken().await;
    sleep(PAUSE).await;
    s.disconnect().await;
}

async fn redelivered(path: PathBuf) {
    let connector = connector().await;
    let delivery = connector.push_inbound(GW, json!({"text": "sent while offline"}));
    let Delivery::Buffered { buffer_id } = delivery else {
        panic!("buffered while offline: {delivery:?}");
    };
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.auto_accept = false;
    s.until("the buffered inbound", |e| {
        matches!(e, Event::Inbound { .. })
    })
    .await;
    // The ack is written but the stalled connector never reads it, and the
    // connection then drops: the connector redelivers on the next one.
    connector.stall(GW, true);
    for acceptance in s.held.drain(..) {
        acceptance.accept();
    }
    sleep(50).await;
    connector.drop_connections(GW);
    s.until_state(LinkState::Retrying).await;
    connector.stall(GW, false);
    s.auto_accept = true;
    s.handshaken().await;
    sleep(PAUSE).await;
    s.seen("the second ack", |seen| seen.acks == [buffer_id.clone()])
        .await;
    assert!(connector.buffered(GW).is_empty());
    sleep(50).await;
    assert_eq!(s.disconnect().await, 1, "delivered once");
}

async fn dormant(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    assert!(within("going dormant", s.link.go_dormant()).await);
    // While dormant the connector buffers; the message arrives on waking.
    let delivery = connector.push_inbound(GW, json!({"text": "while dormant"}));
    assert!(
        matches!(delivery, Delivery::Buffered { .. }),
        "{delivery:?}"
    );
    s.until_state(LinkState::Dormant).await;
    s.handshaken().await;
    sleep(PAUSE).await;
    // Replayed right after the first descriptor, accepted, acked.
    s.seen("the ack", |seen| seen.acks.len() == 1).await;
    assert_eq!(s.disconnect().await, 1);
}

async fn redial_hold(path: PathBuf) {
    let connector = connector().await;
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    s.link.hold_redial();
    connector.drop_connections(GW);
    s.until_state(LinkState::Held).await;
    sleep(300).await;
    assert_eq!(connector.seen().dials.len(), 1, "no dial while held");
    s.link.release_redial();
    s.handshaken().await;
    sleep(PAUSE).await;
    s.disconnect().await;
}

async fn stalled_disconnect(path: PathBuf) {
    let connector = connector().await;
    connector.set_result("prompt", None);
    let mut s = Session::start(connector.clone(), config(&connector), &path);
    s.handshaken().await;
    sleep(PAUSE).await;
    let pending = s.link.request(json!({"op": "prompt", "text": "?"}), None);
    s.seen("the outbound frame", |seen| {
        seen.frames_of("outbound").count() == 1
    })
    .await;
    connector.stall(GW, true);
    let budget = Duration::from_secs(1);
    let started = Instant::now();
    within("the disconnect", s.link.disconnect(budget)).await;
    assert!(started.elapsed() <= budget + Duration::from_millis(100));
    let result = within("the settlement", pending.settled()).await;
    assert_eq!(result, Err(RequestError::Closed { ambiguous: true }));
    s.ended(LinkState::Closed).await;
}
