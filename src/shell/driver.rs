//! The driver: the one task that owns a [`Link`] and runs its commands.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender};
use smol::Task;

use super::socket::{self, Conn, SocketEvent, Tls, Ws};
use super::{Acceptance, Event, Options, Shared, SpawnError};
use crate::command::{Command, LinkState, PlatformState};
use crate::config::Config;
use crate::input::{DialFailure, Input};
use crate::trace::{Recorder, Step};
use crate::{Generation, Link, RequestId};

/// How long a close frame may take when the core closes a connection on
/// its own (timeouts, protocol errors, dormancy).
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How many socket events may wait for the driver before readers pause.
const SOCKET_QUEUE: usize = 256;

/// What the application asks of the driver.
#[derive(Debug)]
pub(crate) enum Request {
    Send {
        id: RequestId,
        action: Map<String, Value>,
        platform: Option<String>,
        reply: Sender<Value>,
    },
    Interrupt {
        session_key: String,
        reason: Option<String>,
    },
    Idle {
        dormant: bool,
        reply: Sender<bool>,
    },
    Hold,
    Release,
    Accepted(String),
    Disconnect {
        budget: Duration,
        reply: Sender<()>,
    },
    Subscribe(Sender<(LinkState, PlatformState)>),
}

/// Everything that wakes the driver.
pub(crate) enum ToDriver {
    App(Request),
    Dialed {
        gen: Generation,
        result: Result<Box<Ws>, DialFailure>,
    },
    Socket {
        gen: Generation,
        event: SocketEvent,
    },
}

/// A random number from the OS (through std's randomly keyed hasher).
fn os_random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

type Spawned = (Sender<Request>, Receiver<Event>, Arc<Shared>);

/// Validates the options and starts the driver task.
pub(crate) fn spawn(config: Config, options: Options) -> Result<Spawned, SpawnError> {
    let tls = tls_for(&config, &options)?;
    let seed = options.seed.unwrap_or_else(os_random);
    let start = Instant::now();
    let recorder = match &options.record {
        Some(path) => {
            let mut file = BufWriter::new(File::create(path)?);
            let recorder = Recorder::new(start, seed, config.summary());
            writeln!(file, "{}", recorder.header_line())?;
            file.flush()?;
            Some((recorder, file))
        }
        None => None,
    };
    // Bounded: a flood of inbound frames waits in the socket (TCP
    // backpressure), not in memory. Only the connection tasks send here,
    // never the driver, so it cannot deadlock.
    let (to_driver, inbox) = smol::channel::bounded(SOCKET_QUEUE);
    let (requests, app_inbox) = smol::channel::unbounded();
    let (events, event_stream) = smol::channel::unbounded();
    let shared = Arc::new(Shared {
        id_prefix: os_random(),
        ..Shared::default()
    });
    let driver = Driver {
        link: Link::new(config, seed, start),
        to_driver,
        events,
        requests: requests.clone(),
        shared: shared.clone(),
        tls,
        recorder,
        command_log: options.command_log,
        dial: None,
        conn: None,
        replies: HashMap::new(),
        idle_waiters: Vec::new(),
        disconnect_waiters: Vec::new(),
        subscribers: Vec::new(),
        published: None,
        closing: Vec::new(),
        disconnect_deadline: None,
    };
    smol::spawn(driver.run(inbox, app_inbox)).detach();
    Ok((requests, event_stream, shared))
}

#[cfg(feature = "tls")]
fn tls_for(config: &Config, options: &Options) -> Result<Tls, SpawnError> {
    if config.url().starts_with("wss://") {
        Ok(Some(super::tls::connector(&options.extra_roots)?))
    } else {
        Ok(None)
    }
}

#[cfg(not(feature = "tls"))]
fn tls_for(config: &Config, _options: &Options) -> Result<Tls, SpawnError> {
    if config.url().starts_with("wss://") {
        Err(SpawnError::TlsDisabled)
    } else {
        Ok(None)
    }
}

struct Driver {
    link: Link,
    to_driver: Sender<ToDriver>,
    events: Sender<Event>,
    requests: Sender<Request>,
    shared: Arc<Shared>,
    tls: Tls,
    recorder: Option<(Recorder, BufWriter<File>)>,
    /// [`Options::command_log`]: copies of the executed commands.
    command_log: Option<Sender<Command>>,
    dial: Option<(Generation, Task<()>)>,
    conn: Option<Conn>,
    replies: HashMap<RequestId, Sender<Value>>,
    idle_waiters: Vec<Sender<bool>>,
    disconnect_waiters: Vec<Sender<()>>,
    subscribers: Vec<Sender<(LinkState, PlatformState)>>,
    published: Option<(LinkState, PlatformState)>,
    /// Writers finishing a close frame.
    closing: Vec<Task<()>>,
    /// When the caller's disconnect budget runs out.
    disconnect_deadline: Option<Instant>,
}

impl Driver {
    async fn run(mut self, inbox: Receiver<ToDriver>, app: Receiver<Request>) {
        self.feed(Step::Input(Input::Start));
        // One timer for the driver's life, re-armed only when the core's
        // next deadline changes. A fresh `Timer::at` per idle wait registered
        // with the reactor and notified it (an eventfd write and a wake-up of
        // the thread polling it) every time the driver went idle: about one
        // extra syscall and context switch per request at one in flight.
        let mut timer = smol::Timer::never();
        let mut armed = None;
        loop {
            self.execute();
            if self.link.state().is_terminal() && self.link.state() != LinkState::Revoked {
                break;
            }
            let deadline = self.link.poll_timeout().map(|(at, _)| at);
            if deadline.is_some_and(|at| at <= Instant::now()) {
                // Due timers run first, even under a flood of socket events.
                self.feed(Step::Timeout);
                continue;
            }
            if deadline != armed {
                match deadline {
                    Some(at) => timer.set_at(at),
                    None => timer = smol::Timer::never(),
                }
                armed = deadline;
            }
            let woke = smol::future::or(
                async {
                    // Fair between the sockets and the application.
                    smol::future::race(async { inbox.recv().await.ok() }, async {
                        app.recv().await.ok().map(ToDriver::App)
                    })
                    .await
                },
                async {
                    (&mut timer).await;
                    None
                },
            )
            .await;
            match woke {
                None => {
                    armed = None; // fired: it must be set again
                    self.feed(Step::Timeout);
                }
                Some(message) => self.handle(message),
            }
        }
        // The link has ended. Close the application's channel so later
        // requests fail at once (`Pending::settled` sees them unsent), and
        // answer what is already queued: a queued request would otherwise
        // keep its reply sender alive in the channel and wait forever.
        app.close();
        while let Ok(request) = app.try_recv() {
            self.request(request);
        }
        self.execute();
        self.finish().await;
    }

    /// Records a step and hands it to the core.
    fn feed(&mut self, step: Step) {
        let now = Instant::now();
        if let Some((recorder, file)) = self.recorder.as_mut() {
            let line = recorder.record(step.clone(), now);
            if writeln!(file, "{line}")
                .and_then(|()| file.flush())
                .is_err()
            {
                tracing::warn!("trace recording failed; recording stops");
                self.recorder = None;
            }
        }
        match step {
            Step::Input(input) => self.link.handle_input(input, now),
            Step::Timeout => self.link.handle_timeout(now),
        }
    }

    fn handle(&mut self, message: ToDriver) {
        match message {
            ToDriver::App(request) => self.request(request),
            ToDriver::Dialed { gen, result } => {
                if self.dial.as_ref().map(|(g, _)| *g) != Some(gen) {
                    return; // a cancelled dial: its socket is simply dropped
                }
                self.dial = None;
                match result {
                    Ok(ws) => {
                        self.conn = Some(Conn::start(gen, *ws, self.to_driver.clone()));
                        self.feed(Step::Input(Input::DialSucceeded { gen }));
                    }
                    Err(failure) => self.feed(Step::Input(Input::DialFailed { gen, failure })),
                }
            }
            ToDriver::Socket { gen, event } => {
                if self.conn.as_ref().map(|c| c.gen) != Some(gen) {
                    return; // a connection the core already let go of
                }
                let input = match event {
                    SocketEvent::Text(text) => Input::Received { gen, text },
                    SocketEvent::Heard => Input::Heard { gen },
                    SocketEvent::Closed { code, reason } => {
                        self.conn = None;
                        Input::SocketClosed { gen, code, reason }
                    }
                };
                self.feed(Step::Input(input));
            }
        }
    }

    fn request(&mut self, request: Request) {
        let input = match request {
            Request::Send {
                id,
                action,
                platform,
                reply,
            } => {
                self.replies.insert(id.clone(), reply);
                Input::Send {
                    id,
                    action,
                    platform,
                }
            }
            Request::Interrupt {
                session_key,
                reason,
            } => Input::Interrupt {
                session_key,
                reason,
            },
            Request::Idle { dormant, reply } => {
                self.idle_waiters.push(reply);
                if dormant {
                    Input::GoDormant
                } else {
                    Input::GoIdle
                }
            }
            Request::Hold => Input::HoldRedial,
            Request::Release => Input::ReleaseRedial,
            Request::Accepted(buffer_id) => Input::Accepted { buffer_id },
            Request::Disconnect { budget, reply } => {
                self.disconnect_waiters.push(reply);
                let deadline = Instant::now() + budget;
                self.disconnect_deadline = Some(
                    self.disconnect_deadline
                        .map_or(deadline, |d| d.min(deadline)),
                );
                let budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
                Input::Disconnect { budget_ms }
            }
            Request::Subscribe(sender) => {
                self.subscribers.push(sender);
                return;
            }
        };
        self.feed(Step::Input(input));
    }

    /// Runs every queued command, then publishes the state once.
    fn execute(&mut self) {
        let mut acknowledge_fatal = false;
        while let Some(command) = self.link.poll_command() {
            if let Some(log) = &self.command_log {
                let _ = log.try_send(command.clone());
            }
            match command {
                Command::Dial { gen, auth } => {
                    let token = if auth {
                        self.link.config().mint_token(socket::unix_now())
                    } else {
                        None
                    };
                    tracing::debug!(gen = gen.0, "dialing");
                    let url = self.link.config().url().to_owned();
                    let task = smol::spawn(socket::dial(
                        gen,
                        url,
                        token,
                        self.tls.clone(),
                        self.to_driver.clone(),
                    ));
                    self.dial = Some((gen, task));
                }
                Command::CancelDial { gen } => {
                    if self.dial.as_ref().map(|(g, _)| *g) == Some(gen) {
                        self.dial = None;
                    }
                }
                Command::Send { gen, frame } => {
                    if let Some(conn) = self.conn.as_ref().filter(|c| c.gen == gen) {
                        conn.send(Message::text(frame.to_line()));
                    }
                }
                Command::Ping { gen } => {
                    if let Some(conn) = self.conn.as_ref().filter(|c| c.gen == gen) {
                        conn.send(Message::Ping(Vec::new().into()));
                    }
                }
                Command::Close { gen, code, reason } => {
                    tracing::info!(gen = gen.0, code, reason = %reason, "closing connection");
                    if let Some(conn) = self.conn.take_if(|c| c.gen == gen) {
                        // A disconnect's close gets what is left of its budget.
                        let grace = self.disconnect_deadline.map_or(CLOSE_GRACE, |deadline| {
                            deadline
                                .saturating_duration_since(Instant::now())
                                .min(CLOSE_GRACE)
                        });
                        if let Some(writer) = conn.close(code, &reason, grace) {
                            self.closing.push(writer);
                        }
                    }
                }
                Command::Descriptor { descriptor, .. } => self.emit(Event::Descriptor(descriptor)),
                Command::Inbound(frame) => {
                    let acceptance = self.acceptance(frame.buffer_id.as_deref());
                    self.emit(Event::Inbound { frame, acceptance });
                }
                Command::Passthrough(frame) => {
                    let acceptance = self.acceptance(frame.buffer_id.as_deref());
                    self.emit(Event::Passthrough { frame, acceptance });
                }
                Command::InterruptInbound(frame) => self.emit(Event::InterruptInbound(frame)),
                Command::IdleOutcome { acked } => {
                    for waiter in self.idle_waiters.drain(..) {
                        let _ = waiter.try_send(acked);
                    }
                }
                Command::Settle { id, settlement } => {
                    if let Some(reply) = self.replies.remove(&id) {
                        let _ = reply.try_send(settlement.to_json());
                    }
                }
                Command::Fatal(report) => {
                    if report.code == crate::command::RELAY_DISABLED_CODE {
                        // A neutral off switch, not an error.
                        tracing::info!(code = report.code, "{}", report.message);
                    } else {
                        tracing::error!(code = report.code, "{}", report.message);
                    }
                    self.emit(Event::Fatal(report));
                    acknowledge_fatal = true;
                }
                Command::StateChanged(_) | Command::PlatformState(_) => {}
            }
        }
        self.publish();
        if acknowledge_fatal {
            // The application has been told: the link becomes Disabled.
            self.feed(Step::Input(Input::FatalAcknowledged));
            self.execute();
        }
    }

    fn acceptance(&self, buffer_id: Option<&str>) -> Option<Acceptance> {
        buffer_id.map(|id| Acceptance {
            buffer_id: id.to_owned(),
            requests: self.requests.clone(),
        })
    }

    fn emit(&self, event: Event) {
        let _ = self.events.try_send(event);
    }

    /// Publishes the (state, platform) pair once per change.
    fn publish(&mut self) {
        let Some(platform) = self.link.platform_state() else {
            return;
        };
        let pair = (self.link.state(), platform);
        if self.published == Some(pair) {
            return;
        }
        self.published = Some(pair);
        self.shared.publish(pair.0, pair.1);
        tracing::info!(state = %pair.0, platform = %pair.1, gen = self.link.generation().0, "state");
        self.subscribers.retain(|s| s.try_send(pair).is_ok());
        self.emit(Event::State {
            state: pair.0,
            platform: pair.1,
        });
    }

    /// The link ended: let close frames finish, then wake disconnecters.
    async fn finish(mut self) {
        self.dial = None;
        self.conn = None;
        for (_, reply) in self.replies.drain() {
            let _ = reply.try_send(crate::Settlement::Closed { ambiguous: false }.to_json());
        }
        // The link is closed and everything is settled: the disconnect has
        // done its part. The close frame finishes within what is left of
        // the budget.
        for waiter in self.disconnect_waiters.drain(..) {
            let _ = waiter.try_send(());
        }
        for writer in self.closing.drain(..) {
            writer.await;
        }
    }
}
