//! The driver: the one future that owns a [`Link`], its live connection
//! and its close handshakes, and runs the core's commands against them.
//!
//! It reads, writes, runs timers and serves the application's requests
//! itself: no task per connection and no channel between the socket and
//! the core. Each turn it takes what is ready (a due timer, a dial outcome,
//! a socket event, an application request), feeds the core, executes the
//! commands, and flushes the connection's writes once for the batch.

mod ending;
use ending::InboxGuard;
mod to_app;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_util::Stream;
use serde_json::{Map, Value};
use smol::channel::{Receiver, Sender, WeakSender};

use super::failure_log::{self, FailureLog};
use super::publish::StateTracker;
use super::runtime::Runtime;
use super::socket::{self, CloseOutcome, Connection, Owned, SocketEvent, Tls, Ws};
use super::tasks::TaskCount;
use super::{Acceptance, Disconnected, Event, Options, Shared, SpawnError, StateChange};
use crate::command::{Command, LinkState, PlatformState};
use crate::config::Config;
use crate::input::{DialFailure, Input};
use crate::trace::{Recorder, Step};
use crate::{Generation, Link, RequestId};

/// Inputs the driver handles in a row, without waiting for anything,
/// before it lets its executor run other tasks (tokio's cooperative
/// budget is 128 too).
const YIELD_EVERY: usize = 128;

/// How long a close frame may take when the core closes a connection on
/// its own (timeouts, protocol errors, dormancy), and how long a peer's
/// close frame may take to echo.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The disconnect budget when every handle and the event stream are
/// dropped.
const DROP_BUDGET: Duration = Duration::from_secs(5);

/// Events the driver decodes before it hands them to the application
/// even though its turn goes on (a flood keeps the socket ready): the
/// application wakes once per batch, not once per event.
const EVENT_BATCH: usize = 32;

/// What the application asks of the driver.
#[derive(Debug)]
pub(crate) enum Request {
    Send {
        id: RequestId,
        action: Map<String, Value>,
        platform: Option<String>,
        reply: Sender<crate::Settlement>,
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
        reply: Sender<Disconnected>,
    },
    Subscribe(Sender<StateChange>),
    /// The application made room in the event channel.
    Room,
}

/// A dial in progress: the open socket or why there is none.
type Dialing = Owned<Result<Box<Ws>, DialFailure>>;

/// What woke the driver.
enum Woke {
    Timer,
    App(Request),
    /// Every handle, acceptance and the event stream are gone.
    AppGone,
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

/// The handle's sender, the event stream's receiver, the shared counters
/// and the driver future.
type Built = (
    Sender<Request>,
    Receiver<Vec<Event>>,
    Arc<Shared>,
    Owned<()>,
);

/// Validates the options and builds the driver future (not spawned).
pub(crate) fn build(config: Config, options: Options) -> Result<Built, SpawnError> {
    if options.event_capacity == 0 {
        return Err(SpawnError::Option {
            field: "event_capacity",
            problem: "must be at least 1",
        });
    }
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
    let (requests, app_inbox) = smol::channel::unbounded();
    // Unbounded: the bound is counted (`flush_backlog`), not preallocated.
    let (events, event_stream) = smol::channel::unbounded();
    let shared = Arc::new(Shared {
        id_prefix: os_random(),
        event_capacity: options.event_capacity,
        runtime: options.runtime,
        ..Shared::default()
    });
    let count = TaskCount::new(&shared.tasks);
    let mut driver = Driver {
        link: Link::new(config, seed, start),
        runtime: options.runtime,
        events,
        backlog: VecDeque::new(),
        requests: requests.downgrade(),
        shared: shared.clone(),
        tls,
        recorder,
        command_log: options.command_log_sender(),
        dial: None,
        conn: None,
        app_first: false,
        replies: HashMap::new(),
        idle_waiters: Vec::new(),
        disconnect_waiters: Vec::new(),
        subscribers: Vec::new(),
        failures: FailureLog::default(),
        #[cfg(feature = "metrics")]
        metrics: None,
        last_change: None,
        tracker: StateTracker::default(),
        closing: Vec::new(),
        disconnect_close: None,
        disconnect_outcome: None,
        disconnecting: false,
        disconnect_deadline: None,
    };
    // The driver stays where the block captured it and `run` borrows it:
    // moving it into a by-value `async fn` would keep a second copy (the
    // argument beside the moved local) in the future, 1.8 KiB each.
    // Answers what is still queued if the future is dropped before the
    // link ended (its executor shut down, or the application dropped it,
    // polled or not): nothing queued was sent.
    let inbox = InboxGuard(app_inbox.clone());
    let future = Box::pin(async move {
        let _count = count;
        let _inbox = inbox;
        // Every line the link logs names its gateway (never its secret).
        // The span is made where the driver runs, under that thread's
        // subscriber.
        let config = driver.link.config();
        let span = tracing::info_span!(
            "relay_link",
            gateway = config.gateway_id().unwrap_or("-"),
            url = config.url()
        );
        tracing::Instrument::instrument(driver.run(app_inbox), span).await;
        // Ends the event stream (its only sender) as soon as the link ends.
        drop(driver);
    });
    Ok((requests, event_stream, shared, future))
}

#[cfg(feature = "tls")]
fn tls_for(config: &Config, options: &Options) -> Result<Tls, SpawnError> {
    if config.url().starts_with("wss://") {
        Ok(Some(super::tls::connector(&options.tls)?))
    } else {
        super::tls::check(&options.tls)?;
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
    runtime: Runtime,
    /// Events go to the application in batches: one channel item (and one
    /// wake-up of the application) per batch.
    events: Sender<Vec<Event>>,
    /// Events the full channel could not take yet, in order. While any
    /// wait here the driver takes no socket events (TCP backpressure).
    backlog: VecDeque<Event>,
    /// For acceptances; weak so the driver never keeps its own inbox open.
    requests: WeakSender<Request>,
    shared: Arc<Shared>,
    tls: Tls,
    recorder: Option<(Recorder, BufWriter<File>)>,
    /// [`Options::command_log`]: copies of the executed commands.
    command_log: Option<Sender<Command>>,
    /// The dial in progress (dropping it cancels it).
    dial: Option<(Generation, Dialing)>,
    conn: Option<Connection>,
    /// Whose turn comes first, the application's or the socket's.
    app_first: bool,
    replies: HashMap<RequestId, Sender<crate::Settlement>>,
    idle_waiters: Vec<Sender<bool>>,
    disconnect_waiters: Vec<Sender<Disconnected>>,
    subscribers: Vec<Sender<StateChange>>,
    /// Which failures to log.
    failures: FailureLog,
    /// The link's metrics (registered when the driver starts).
    #[cfg(feature = "metrics")]
    metrics: Option<super::export::Exporter>,
    /// The last change published (a new subscriber's first item).
    last_change: Option<StateChange>,
    tracker: StateTracker,
    /// Connections finishing a close handshake; reaped as they finish.
    closing: Vec<Owned<CloseOutcome>>,
    /// The close a disconnect started, and how it ended.
    disconnect_close: Option<Owned<CloseOutcome>>,
    disconnect_outcome: Option<CloseOutcome>,
    disconnecting: bool,
    /// When the caller's disconnect budget runs out (`None`: never).
    disconnect_deadline: Option<Instant>,
}

impl Driver {
    async fn run(&mut self, app: Receiver<Request>) {
        let mut app = pin!(app);
        let mut app_open = true;
        #[cfg(feature = "metrics")]
        {
            let gateway = self.link.config().gateway_id().unwrap_or("-");
            self.metrics = Some(super::export::Exporter::new(gateway));
        }
        self.feed(Step::Input(Input::Start));
        // One timer for the driver's life, re-armed only when the core's
        // next deadline changes. A fresh `Timer::at` per idle wait registered
        // with the reactor and notified it (an eventfd write and a wake-up of
        // the thread polling it) every time the driver went idle: about one
        // extra syscall and context switch per request at one in flight.
        let mut timer = self.runtime.timer();
        let mut armed = None;
        // Inputs handled since the driver last waited for something.
        let mut streak = 0;
        loop {
            self.execute();
            if self.link.state().is_terminal() && self.link.state() != LinkState::Revoked {
                break;
            }
            if streak >= YIELD_EVERY {
                // A flood never waits: let the executor's other tasks run.
                streak = 0;
                self.yield_now().await;
            }
            let deadline = self.link.poll_timeout().map(|(at, _)| at);
            if deadline.is_some_and(|at| at <= Instant::now()) {
                // Due timers run first, even under a flood of socket events.
                streak += 1;
                self.feed(Step::Timeout);
                continue;
            }
            if deadline != armed {
                timer.set(deadline);
                armed = deadline;
            }
            let mut polls = 0;
            let woke = std::future::poll_fn(|cx| {
                polls += 1;
                if timer.poll(cx).is_ready() {
                    return Poll::Ready(Woke::Timer);
                }
                let app = app_open.then_some(app.as_mut());
                self.poll_wake(cx, app)
            })
            .await;
            streak = if polls == 1 { streak + 1 } else { 0 };
            match woke {
                Woke::Timer => {
                    armed = None; // fired: it must be set again
                    self.feed(Step::Timeout);
                }
                Woke::App(request) => self.request(request),
                Woke::AppGone => {
                    app_open = false;
                    tracing::info!("every handle and the event stream were dropped: disconnecting");
                    self.start_disconnect(DROP_BUDGET);
                }
                Woke::Dialed { gen, result } => self.dialed(gen, result),
                Woke::Socket { gen, event } => self.socket(gen, event),
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

    /// Ends the driver's poll once (it is woken again at once), after the
    /// end-of-turn work: the staged events reach the application, the
    /// queued writes go out. smol's executors have no budget of their own
    /// (tokio's sockets do): without this a flood of input that makes no
    /// events would hold the executor's thread for as long as it lasts.
    async fn yield_now(&mut self) {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            if !self.backlog.is_empty() {
                self.flush_backlog();
            }
            if let Some(conn) = self.conn.as_mut() {
                conn.poll_write(cx);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }

    /// Polls everything but the timer: close handshakes (reaped as they
    /// finish), the dial, the connection's writes (once a batch has
    /// gathered; the rest at the end of the turn), then the application
    /// and the socket in turn. The socket is read only while the
    /// application's events fit in their channel.
    fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        mut app: Option<Pin<&mut Receiver<Request>>>,
    ) -> Poll<Woke> {
        self.poll_closing(cx);
        if let Some((gen, dial)) = self.dial.as_mut() {
            if let Poll::Ready(result) = dial.as_mut().poll(cx) {
                let gen = *gen;
                self.dial = None;
                return Poll::Ready(Woke::Dialed { gen, result });
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.poll_write_batch(cx);
        }
        self.app_first = !self.app_first;
        for app_turn in [self.app_first, !self.app_first] {
            if app_turn {
                if let Some(app) = app.as_mut() {
                    match app.as_mut().poll_next(cx) {
                        Poll::Ready(Some(request)) => return Poll::Ready(Woke::App(request)),
                        Poll::Ready(None) => return Poll::Ready(Woke::AppGone),
                        Poll::Pending => {}
                    }
                }
            } else if self.may_read() {
                if let Some(conn) = self.conn.as_mut() {
                    if let Poll::Ready(event) = conn.poll_read(cx) {
                        let gen = conn.gen;
                        return Poll::Ready(Woke::Socket { gen, event });
                    }
                }
            }
        }
        // The end of a turn: the events it produced reach the application
        // together (one wake-up for the batch), its writes go out together.
        if !self.backlog.is_empty() {
            self.flush_backlog();
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.poll_write(cx);
        }
        Poll::Pending
    }

    /// Drives the close handshakes; drops the finished ones.
    fn poll_closing(&mut self, cx: &mut Context<'_>) {
        self.closing
            .retain_mut(|close| close.as_mut().poll(cx).is_pending());
        if let Some(close) = self.disconnect_close.as_mut() {
            if let Poll::Ready(outcome) = close.as_mut().poll(cx) {
                self.disconnect_outcome = Some(outcome);
                self.disconnect_close = None;
            }
        }
        let live = self.closing.len() + usize::from(self.disconnect_close.is_some());
        self.shared.closing.store(live, Ordering::Relaxed);
    }

    /// Records a step and hands it to the core; logs the failure it
    /// ended a connection or a dial with.
    fn feed(&mut self, step: Step) {
        let now = Instant::now();
        let ended = self.link.counters().ended;
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
        if self.link.counters().ended != ended {
            let retry_in = self.link.retry_in();
            {
                // A re-dial can end a dial without a state change (a
                // first 4401 at the upgrade): the handle's cause follows.
                let mut status = self.shared.status();
                status.cause = self.link.cause().cloned();
                status.retry_at = retry_in.and_then(|delay| now.checked_add(delay));
            }
            if let Some(cause) = self.link.cause().filter(|cause| cause.is_failure()) {
                for line in self.failures.failed(cause, now) {
                    failure_log::log(&line, retry_in);
                }
            }
        }
    }

    fn dialed(&mut self, gen: Generation, result: Result<Box<Ws>, DialFailure>) {
        match result {
            Ok(ws) => {
                self.conn = Some(Connection::new(gen, *ws));
                self.feed(Step::Input(Input::DialSucceeded { gen }));
            }
            Err(failure) => {
                if let DialFailure::Closed { code, .. } = failure {
                    self.count_close(Some(code));
                }
                self.feed(Step::Input(Input::DialFailed { gen, failure }));
            }
        }
    }

    fn socket(&mut self, gen: Generation, event: SocketEvent) {
        let input = match event {
            SocketEvent::Text(text) => Input::Received { gen, text },
            SocketEvent::Heard => Input::Heard { gen },
            SocketEvent::TooLarge => Input::TooLarge { gen },
            SocketEvent::Closed { code, reason } => {
                self.count_close(code);
                if let Some(conn) = self.conn.take() {
                    // Echo the peer's close; reaped when done.
                    self.closing.push(conn.ended(self.runtime, CLOSE_GRACE));
                }
                Input::SocketClosed { gen, code, reason }
            }
        };
        self.feed(Step::Input(input));
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
                if self.link.state().is_terminal() && !self.disconnecting {
                    let _ = reply.try_send(Disconnected::AlreadyEnded);
                    return;
                }
                self.disconnect_waiters.push(reply);
                self.start_disconnect(budget);
                return;
            }
            Request::Subscribe(sender) => {
                let current = self.last_change.clone();
                if current.is_none_or(|change| sender.try_send(change).is_ok()) {
                    self.subscribers.push(sender);
                }
                return;
            }
            Request::Room => {
                self.flush_backlog();
                return;
            }
        };
        self.feed(Step::Input(input));
    }

    /// Feeds a disconnect with `budget` (a budget too long to represent
    /// has no deadline).
    fn start_disconnect(&mut self, budget: Duration) {
        self.disconnecting = true;
        if let Some(deadline) = Instant::now().checked_add(budget) {
            self.disconnect_deadline = Some(
                self.disconnect_deadline
                    .map_or(deadline, |d| d.min(deadline)),
            );
        }
        let budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
        self.feed(Step::Input(Input::Disconnect { budget_ms }));
    }

    /// Runs every queued command; publishes each state change in order.
    fn execute(&mut self) {
        let mut acknowledge_fatal = false;
        while let Some(command) = self.link.poll_command() {
            if let Some(log) = &self.command_log {
                let _ = log.try_send(command.clone());
            }
            if let Some(pair) = self.tracker.observe(&command) {
                self.publish(pair);
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
                    #[allow(clippy::clone_on_copy)]
                    // `Tls` is `Copy` only without the `tls` feature
                    let limit = crate::decoder::message_limit(self.link.config().max_frame_size());
                    let dial = socket::open(self.runtime, url, token, self.tls.clone(), limit);
                    self.dial = Some((gen, Box::pin(async { dial.await.map(Box::new) })));
                }
                Command::CancelDial { gen } => {
                    if self.dial.as_ref().map(|(g, _)| *g) == Some(gen) {
                        self.dial = None;
                    }
                }
                Command::Send { gen, frame } => {
                    if let Some(conn) = self.conn.as_mut().filter(|c| c.gen == gen) {
                        conn.send(Message::text(frame.to_line()));
                    }
                }
                Command::Ping { gen } => {
                    if let Some(conn) = self.conn.as_mut().filter(|c| c.gen == gen) {
                        conn.send(Message::Ping(Vec::new().into()));
                    }
                }
                Command::Close { gen, code, reason } => self.close(gen, code, &reason),
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
                        let _ = reply.try_send(settlement);
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
        if let Some(pair) = self.tracker.flush() {
            self.publish(pair);
        }
        self.share_tallies();
        if acknowledge_fatal {
            // The application has been told: the link becomes Disabled.
            self.feed(Step::Input(Input::FatalAcknowledged));
            self.execute();
        }
    }

    /// Hands the core's counters (as of now) to the handles and the
    /// metrics.
    fn share_tallies(&mut self) {
        let counters = self.link.counters();
        let skipped = self.link.stats();
        let in_flight = self.link.pending_requests();
        {
            let mut tallies = self.shared.tallies();
            tallies.counters = counters;
            tallies.skipped = skipped;
            tallies.in_flight = in_flight;
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics.as_mut() {
            let queued = self.shared.queued.load(Ordering::Relaxed);
            metrics.export(&counters, &skipped, in_flight, queued);
        }
    }

    /// Counts a connection closed with `code` (`None`: no close frame).
    fn count_close(&mut self, code: Option<u16>) {
        self.shared.tallies().closed(code);
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics.as_ref() {
            metrics.closed(code.unwrap_or(super::NO_CLOSE_FRAME));
        }
    }

    fn close(&mut self, gen: Generation, code: u16, reason: &str) {
        tracing::info!(gen = gen.0, code, reason = %reason, "closing connection");
        let Some(conn) = self.conn.take_if(|c| c.gen == gen) else {
            return;
        };
        self.count_close(Some(code));
        // A disconnect's close gets what is left of its budget.
        let grace = self.disconnect_deadline.map_or(CLOSE_GRACE, |deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .min(CLOSE_GRACE)
        });
        let close = conn.close(self.runtime, code, reason, grace);
        if self.disconnecting {
            self.disconnect_close = Some(close);
        } else {
            self.closing.push(close);
        }
    }
}

#[cfg(test)]
#[path = "driver_footprint.rs"]
mod footprint;
