//! A loopback test connector: a real WebSocket server speaking the connector
//! side of the relay contract, scriptable and recording what it sees.
//!
//! [`Connector::start`] binds `127.0.0.1:0` and serves `/relay` on the smol
//! global executor, so it works from inside `smol::block_on`. Gateways are
//! registered with [`Connector::add_gateway`]; an upgrade is then judged the
//! way the real connector does (relay contract §1, §4):
//!
//! * a path other than `/relay` gets HTTP 404;
//! * a scripted [`reject_http`](Connector::reject_http) gets that status;
//! * no `Authorization` header: refused unless
//!   [`allow_anonymous`](Connector::allow_anonymous); the gateway id is then
//!   [`ANONYMOUS`] (`""`);
//! * a malformed token, a bad signature or an unknown gateway: the upgrade is
//!   accepted and closed at once with 4401 `unauthorized`;
//! * a token whose `exp` is non-zero and in the past: 4401 `expired`;
//! * a [`revoke`](Connector::revoke)d gateway: 4401 `unauthorized`; an armed
//!   [`expire_token`](Connector::expire_token): 4401 `expired`;
//! * a scripted [`refuse_next`](Connector::refuse_next): that close code;
//! * otherwise the connection is served.
//!
//! A served connection answers each `hello` with one `descriptor` (see
//! [`default_descriptor`]), then replays the gateway's buffered deliveries
//! with their `bufferId` until each is acked; answers `outbound` with an
//! `outbound_result` carrying the same `requestId`; answers `going_idle` with
//! `going_idle_ack` and buffers later pushes until the gateway's next
//! connection; answers pings while it reads. Everything is recorded in
//! [`Seen`]. Tokens and secrets are never recorded or printed.
//!
//! ```no_run
//! # smol::block_on(async {
//! use std::time::Duration;
//! use relay_link::testing::{Connector, ConnectorOptions};
//! use relay_link::token::Secret;
//!
//! let connector = Connector::start(ConnectorOptions::default()).await?;
//! connector.add_gateway("gw-1", Secret::new("s3cret"));
//! // … point a gateway at connector.url() …
//! let said_hello = connector
//!     .wait_until(Duration::from_secs(2), |seen| seen.frames_of("hello").count() > 0)
//!     .await;
//! # let _ = said_hello;
//! # Ok::<(), std::io::Error>(())
//! # });
//! ```

mod auth;
mod command_log;
mod knobs;
mod record;
mod script;
mod server;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smol::net::TcpListener;
use smol::Timer;

pub use command_log::CommandLog;
pub use record::{
    ConnectionId, Dial, DialOutcome, Seen, SeenClose, SeenConnection, SeenFrame, ANONYMOUS,
};
pub use script::{default_descriptor, Delivery};

use script::{ConnCmd, Countdown, State};
use server::Shared;

use crate::token::Secret;

/// Builds the descriptor answering a `hello`, from its `platform` and `botId`.
pub type DescriptorFn = Arc<dyn Fn(&str, &str) -> Value + Send + Sync>;

/// How a [`Connector`] is set up.
#[derive(Clone)]
pub struct ConnectorOptions {
    /// Serve `wss://` with this rustls configuration (the URL then names
    /// `localhost`); rustls is re-exported as
    /// [`shell::tls::rustls`](crate::shell::tls::rustls).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The `result` of an `outbound` whose op has no
    /// [`set_result`](Connector::set_result). Default `{"success": true}`.
    pub default_result: Value,
    /// Add `"echo": <action>` to the default result (when it is an object
    /// without `echo`). Default `true`.
    pub echo_action: bool,
    /// Builds descriptors; `None` (default) uses [`default_descriptor`].
    pub descriptor_for: Option<DescriptorFn>,
    /// How long a connection closed by the connector waits for the
    /// gateway's answering close frame before dropping the socket.
    /// Default 2 s.
    pub close_grace: Duration,
    /// With [`merge_frames`](Connector::merge_frames), how long a lone
    /// outgoing frame is held waiting for others to batch with. Default
    /// 100 ms.
    pub merge_window: Duration,
}

impl Default for ConnectorOptions {
    fn default() -> Self {
        Self {
            #[cfg(feature = "tls")]
            tls: None,
            default_result: json!({"success": true}),
            echo_action: true,
            descriptor_for: None,
            close_grace: Duration::from_secs(2),
            merge_window: Duration::from_millis(100),
        }
    }
}

impl fmt::Debug for ConnectorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ConnectorOptions");
        #[cfg(feature = "tls")]
        s.field("tls", &self.tls.is_some());
        s.field("default_result", &self.default_result)
            .field("echo_action", &self.echo_action)
            .field("descriptor_for", &self.descriptor_for.is_some())
            .field("close_grace", &self.close_grace)
            .field("merge_window", &self.merge_window)
            .finish()
    }
}

/// A running test connector. Cheap to clone; all clones drive the same
/// server. It shuts down on [`shutdown`](Connector::shutdown) or when the
/// last clone is dropped.
///
/// Scripting methods take the gateway id (the one signed into its tokens,
/// or [`ANONYMOUS`]); a gateway unknown so far is created on first use.
#[derive(Clone)]
pub struct Connector {
    inner: Arc<Handle>,
}

/// The shared part of every clone; its drop shuts the server down.
struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.shutdown();
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Starts a connector on `127.0.0.1` with an ephemeral port.
    pub async fn start(options: ConnectorOptions) -> std::io::Result<Connector> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options).await
    }

    /// Starts a connector listening on `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        options: ConnectorOptions,
    ) -> std::io::Result<Connector> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        #[cfg(feature = "tls")]
        let tls = options.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        let url = if tls && (addr.ip().is_loopback() || addr.ip().is_unspecified()) {
            format!("wss://localhost:{}", addr.port())
        } else if tls {
            format!("wss://{addr}")
        } else {
            format!("ws://{addr}")
        };
        let (stop_tx, stop_rx) = smol::channel::bounded(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            options,
            stop: Mutex::new(Some(stop_tx)),
        });
        smol::spawn(server::accept_loop(Arc::clone(&shared), listener, stop_rx)).detach();
        Ok(Connector {
            inner: Arc::new(Handle { shared, addr, url }),
        })
    }

    /// The base URL (`ws://127.0.0.1:PORT`, or `wss://localhost:PORT` with
    /// TLS); gateways append `/relay`.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The address the connector listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.shared.lock()
    }

    /// Registers a gateway and the secret its tokens are verified against
    /// (replacing any earlier secret).
    pub fn add_gateway(&self, gateway_id: &str, secret: Secret) {
        self.state().gateway(gateway_id).secret = Some(secret);
    }

    /// Whether upgrades without an `Authorization` header are served (as
    /// gateway [`ANONYMOUS`]). Default: refused with 4401 `unauthorized`.
    pub fn allow_anonymous(&self, yes: bool) {
        self.state().allow_anonymous = yes;
    }

    /// Revokes the gateway: its open connections are closed now with 4401
    /// `unauthorized`, and every later upgrade is refused the same way until
    /// [`reinstate`](Connector::reinstate).
    pub fn revoke(&self, gateway_id: &str) {
        let mut state = self.state();
        state.gateway(gateway_id).revoked = true;
        state.broadcast(gateway_id, || {
            ConnCmd::Close(script::UNAUTHORIZED, "unauthorized".to_owned())
        });
    }

    /// Lifts a [`revoke`](Connector::revoke).
    pub fn reinstate(&self, gateway_id: &str) {
        self.state().gateway(gateway_id).revoked = false;
    }

    /// Ages the gateway's token out: its open connections are closed now
    /// with 4401 `expired`; when none is open, the next upgrade is refused
    /// with 4401 `expired` instead.
    pub fn expire_token(&self, gateway_id: &str) {
        let mut state = self.state();
        let closed = state.broadcast(gateway_id, || {
            ConnCmd::Close(script::UNAUTHORIZED, "expired".to_owned())
        });
        if closed == 0 {
            state.gateway(gateway_id).expire_next = true;
        }
    }

    /// The next `n` upgrades that pass authentication are accepted, then
    /// closed at once with `code` and `reason` (4401 `unauthorized` for a
    /// provisional strike, 1011 for a connector that accepts and drops).
    pub fn refuse_next(&self, gateway_id: &str, n: usize, code: u16, reason: &str) {
        self.state().gateway(gateway_id).refuse = (n > 0).then(|| Countdown {
            remaining: n,
            what: (code, reason.to_owned()),
        });
    }

    /// The next `n` upgrades of the gateway are refused at the HTTP level
    /// with `status` (3xx–5xx; anything else becomes 503), before
    /// authentication.
    pub fn reject_http(&self, gateway_id: &str, n: usize, status: u16) {
        self.state().gateway(gateway_id).reject = (n > 0).then_some(Countdown {
            remaining: n,
            what: status,
        });
    }

    /// Drops the gateway's open sockets abruptly: no close frame.
    pub fn drop_connections(&self, gateway_id: &str) {
        let mut state = self.state();
        for conn in state.conns.values_mut() {
            if conn.gateway == gateway_id {
                conn.ready = false;
                let _ = conn.tx.try_send(ConnCmd::Drop);
            }
        }
    }

    /// Closes the gateway's open connections now with `code` and `reason`.
    pub fn close_with(&self, gateway_id: &str, code: u16, reason: &str) {
        self.state()
            .broadcast(gateway_id, || ConnCmd::Close(code, reason.to_owned()));
    }

    /// Whether `hello`s are left unanswered (no descriptor, no replay).
    pub fn withhold_descriptor(&self, gateway_id: &str, yes: bool) {
        self.state().gateway(gateway_id).withhold = yes;
    }

    /// Whether the gateway's connections stop reading and writing entirely:
    /// no pongs, no answers, no pushes (pushes are buffered). Scripted
    /// closes and drops still happen.
    pub fn stall(&self, gateway_id: &str, yes: bool) {
        let mut state = self.state();
        state.gateway(gateway_id).stall = yes;
        state.broadcast(gateway_id, || ConnCmd::Wake);
    }

    /// Whether each outgoing message is split over several WebSocket
    /// messages (up to three pieces, not at line boundaries).
    pub fn split_frames(&self, gateway_id: &str, yes: bool) {
        self.state().gateway(gateway_id).split = yes;
    }

    /// Whether outgoing frames are batched into one message: frames
    /// produced back to back go out together; a lone frame waits up to the
    /// merge window for company.
    pub fn merge_frames(&self, gateway_id: &str, yes: bool) {
        self.state().gateway(gateway_id).merge = yes;
    }

    /// Sends garbage lines to the gateway's open connections now: invalid
    /// JSON, JSON that is not an object, unknown and missing `type`s and a
    /// blank line, one per message (unless merging).
    pub fn send_garbage(&self, gateway_id: &str) {
        self.state().broadcast(gateway_id, server::garbage);
    }

    /// Sends a partial line of `bytes` bytes, never terminated by `'\n'`,
    /// to the gateway's open connections now, in messages of at most 1 MiB.
    pub fn send_oversized_partial(&self, gateway_id: &str, bytes: usize) {
        let messages = server::oversized_partial(bytes);
        self.state()
            .broadcast(gateway_id, || ConnCmd::Raw(messages.clone()));
    }

    /// Sends `frame` (any JSON value) as one line to the gateway's open
    /// connections now; returns how many got it.
    pub fn send_frame(&self, gateway_id: &str, frame: Value) -> usize {
        let line = script::line_of(&frame);
        self.state()
            .broadcast(gateway_id, || ConnCmd::Lines(vec![line.clone()]))
    }

    /// Sends `text` verbatim as one message to the gateway's open
    /// connections now; returns how many got it.
    pub fn send_raw(&self, gateway_id: &str, text: &str) -> usize {
        self.state()
            .broadcast(gateway_id, || ConnCmd::Raw(vec![text.to_owned()]))
    }

    /// Pushes an `inbound` frame with this `event`: live (without
    /// `bufferId`) on the gateway's newest connection that has received a
    /// descriptor, unless the gateway is idle or stalled; otherwise
    /// buffered and replayed with a `bufferId` until acked.
    pub fn push_inbound(&self, gateway_id: &str, event: Value) -> Delivery {
        self.state()
            .push(gateway_id, server::frame_with("inbound", "event", event))
    }

    /// Pushes a `passthrough_forward` frame with this `forward`, delivered
    /// like [`push_inbound`](Connector::push_inbound).
    pub fn push_passthrough(&self, gateway_id: &str, forward: Value) -> Delivery {
        self.state().push(
            gateway_id,
            server::frame_with("passthrough_forward", "forward", forward),
        )
    }

    /// The `bufferId`s of the gateway still waiting for an ack.
    pub fn buffered(&self, gateway_id: &str) -> Vec<String> {
        self.state()
            .gateways
            .get(gateway_id)
            .map(|g| g.buffered.iter().map(|b| b.buffer_id.clone()).collect())
            .unwrap_or_default()
    }

    /// Sets the `result` answering `outbound`s whose `action.op` is `op`;
    /// `None` leaves them unanswered (for timeout tests).
    pub fn set_result(&self, op: &str, result: Option<Value>) {
        self.state().results.insert(op.to_owned(), result);
    }

    /// A snapshot of everything seen so far.
    pub fn seen(&self) -> Seen {
        self.state().seen.clone()
    }

    /// Waits until `pred` holds for what was seen, checking every few
    /// milliseconds; `false` when `timeout` passed first.
    pub async fn wait_until(&self, timeout: Duration, pred: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.state().seen) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            Timer::after(Duration::from_millis(5)).await;
        }
    }

    /// Stops the server: the listener closes, open sockets are dropped
    /// without close frames, and upgrades in flight are refused. What was
    /// seen stays readable.
    pub fn shutdown(&self) {
        self.inner.shared.shutdown();
    }
}
