//! The connector's IO: the accept loop and one task per connection.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::{header, StatusCode};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use serde_json::{json, Map, Value};
use smol::channel::{Receiver, Sender};
use smol::future::or;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::{TcpListener, TcpStream};
use smol::stream::StreamExt as _;
use smol::Timer;

use super::record::{ConnectionId, Dial, DialOutcome, SeenClose, SeenFrame};
use super::script::{garbage_lines, line_of, split_in_pieces, ConnCmd, State, Verdict};
use super::ConnectorOptions;

/// How long the TLS and HTTP upgrade exchange may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may block before the connection counts as broken.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest partial line kept per connection (the contract's default
/// maximum frame size); past it the connection is closed with 1009.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// The longest close reason that fits a control frame.
const MAX_REASON: usize = 123;

/// What the tasks share with the handles.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) options: ConnectorOptions,
    /// Dropped on shutdown, which ends every `stop.recv()`.
    pub(super) stop: Mutex<Option<Sender<()>>>,
}

impl Shared {
    /// Locks the state; a panicked holder does not poison it for tests.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops accepting, ends every connection task (without close frames)
    /// and refuses any upgrade still in flight.
    pub(super) fn shutdown(&self) {
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
        let mut state = self.lock();
        state.shut_down = true;
        // Dropping the command senders ends each connection task.
        state.conns.clear();
        for conn in &mut state.seen.connections {
            conn.open = false;
        }
    }
}

/// The current Unix time in seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Resolves when `stop` is signalled (its sender dropped).
async fn stopped(stop: &Receiver<()>) {
    while stop.recv().await.is_ok() {}
}

/// Resolves after `duration`.
async fn sleep(duration: Duration) {
    Timer::after(duration).await;
}

/// Resolves at `deadline`, or never.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => {
            Timer::at(at).await;
        }
        None => std::future::pending().await,
    }
}

/// Accepts TCP connections until stopped, one task each.
pub(super) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, stop: Receiver<()>) {
    loop {
        let accepted = or(async { Some(listener.accept().await) }, async {
            stopped(&stop).await;
            None
        })
        .await;
        match accepted {
            None => break,
            // Out of file descriptors or similar: do not spin.
            Some(Err(_)) => sleep(Duration::from_millis(20)).await,
            Some(Ok((tcp, _peer))) => {
                let _ = tcp.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let stop = stop.clone();
                smol::spawn(serve_tcp(shared, tcp, stop)).detach();
            }
        }
    }
}

/// Records a dial that never reached a verdict.
fn record_failed_dial(shared: &Shared) {
    shared.lock().seen.dials.push(Dial {
        gateway_id: None,
        auth_header_present: false,
        authorized: false,
        token_exp: None,
        path: String::new(),
        headers: Vec::new(),
        outcome: DialOutcome::Failed,
        connection: None,
    });
}

/// Serves one TCP connection, through TLS when configured.
async fn serve_tcp(shared: Arc<Shared>, tcp: TcpStream, stop: Receiver<()>) {
    #[cfg(feature = "tls")]
    if let Some(config) = shared.options.tls.clone() {
        let acceptor = futures_rustls::TlsAcceptor::from(config);
        let tls = or(async { acceptor.accept(tcp).await.ok() }, async {
            or(stopped(&stop), sleep(HANDSHAKE_TIMEOUT)).await;
            None
        })
        .await;
        match tls {
            Some(stream) => serve(shared, stream, stop).await,
            None => record_failed_dial(&shared),
        }
        return;
    }
    serve(shared, tcp, stop).await;
}

/// The request's headers as [`Dial::headers`] keeps them: every one but
/// `Authorization`.
fn recorded_headers(request: &Request) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION)
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The HTTP rejection response for `status`.
fn http_rejection(status: u16) -> ErrorResponse {
    let mut response = ErrorResponse::new(None);
    *response.status_mut() = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error() || s.is_redirection())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from_static("0"),
    );
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Runs the upgrade, then the connection until it ends.
async fn serve<S>(shared: Arc<Shared>, stream: S, stop: Receiver<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = smol::channel::unbounded();
    let mut decision = None;
    let upgraded = {
        let shared = &shared;
        let decision = &mut decision;
        // The signature is tungstenite's.
        #[allow(clippy::result_large_err)]
        let callback = move |request: &Request, response: Response| {
            let auth = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or(""));
            let mut state = shared.lock();
            let made = state.decide(request.uri().path(), auth, unix_now(), tx);
            if let Some(dial) = state.seen.dials.last_mut() {
                dial.headers = recorded_headers(request);
            }
            drop(state);
            let verdict = made.verdict.clone();
            *decision = Some(made);
            match verdict {
                Verdict::Http(status) => Err(http_rejection(status)),
                Verdict::Accept | Verdict::Refuse(..) => Ok(response),
            }
        };
        or(
            async { Some(async_tungstenite::accept_hdr_async(stream, callback).await) },
            async {
                or(stopped(&stop), sleep(HANDSHAKE_TIMEOUT)).await;
                None
            },
        )
        .await
    };
    let ws = match (upgraded, decision) {
        (Some(Ok(ws)), Some(decision)) => Some((ws, decision)),
        // The rejection was written; the dial is already recorded.
        (Some(Err(WsError::Http(_))), Some(_)) => None,
        (_, Some(decision)) => {
            if !matches!(decision.verdict, Verdict::Http(_)) {
                shared.lock().upgrade_failed(decision.connection);
            }
            None
        }
        (_, None) => {
            record_failed_dial(&shared);
            None
        }
    };
    let Some((ws, decision)) = ws else {
        return;
    };
    let mut conn = Conn {
        shared: Arc::clone(&shared),
        id: decision.connection,
        gateway: decision.gateway,
        ws,
        rx,
        line: String::new(),
        outbox: Vec::new(),
        held: Vec::new(),
        delayed: Vec::new(),
        flush_at: None,
        closing_at: None,
        served: decision.verdict == Verdict::Accept,
        ready: false,
    };
    if let Verdict::Refuse(code, reason) = decision.verdict {
        let _ = conn.close(code, &reason).await;
    }
    conn.run().await;
    shared.lock().connection_ended(conn.id);
}

/// One event of a connection's loop.
enum Event {
    Message(Option<Result<Message, WsError>>),
    /// The stall that held messages has ended.
    Held,
    Command(Option<ConnCmd>),
    Timer,
}

/// Why the loop must end.
struct Broken;

/// A gateway's output scripts, read by its connections.
#[derive(Clone, Copy)]
struct Flags {
    stall: bool,
    split: bool,
    merge: bool,
    binary: bool,
}

/// One upgraded connection.
struct Conn<S> {
    shared: Arc<Shared>,
    id: ConnectionId,
    gateway: String,
    ws: WebSocketStream<S>,
    rx: Receiver<ConnCmd>,
    /// The trailing partial line received.
    line: String,
    /// Lines waiting to be written.
    outbox: Vec<String>,
    /// Messages read just as a stall began (the flag changed while the
    /// read was under way): handled once the stall ends, as if unread.
    held: Vec<Message>,
    /// Results held back by [`delay_results`](super::Connector::delay_results):
    /// each line and when it is due.
    delayed: Vec<(Instant, String)>,
    /// When a merged batch is due.
    flush_at: Option<Instant>,
    /// Set once the connector sent a close: the connection ends at this
    /// deadline if the gateway does not answer it.
    closing_at: Option<Instant>,
    /// Accepted and served (not a refusal).
    served: bool,
    /// A descriptor was sent: the buffered deliveries were replayed.
    ready: bool,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The gateway's output flags, as they are now.
    fn flags(&self) -> Flags {
        let state = self.shared.lock();
        let g = state.gateways.get(&self.gateway);
        Flags {
            stall: g.is_some_and(|g| g.stall),
            split: g.is_some_and(|g| g.split),
            merge: g.is_some_and(|g| g.merge),
            binary: g.is_some_and(|g| g.binary),
        }
    }

    async fn run(&mut self) {
        loop {
            let Flags { stall, merge, .. } = self.flags();
            // A merged batch of two or more goes out as soon as nothing
            // else is ready (the timer is polled last); a lone frame waits
            // out the merge window for company. Nothing goes out stalled.
            let flush_at = if stall {
                None
            } else if merge && self.outbox.len() >= 2 {
                Some(Instant::now())
            } else {
                self.flush_at
            };
            let due = self.delayed.iter().map(|(at, _)| *at).min();
            let deadline = [flush_at, self.closing_at, due].into_iter().flatten().min();
            let event = if !stall && !self.held.is_empty() {
                Event::Held
            } else {
                let rx = &self.rx;
                let ws = &mut self.ws;
                let command = async { Event::Command(rx.recv().await.ok()) };
                let timer = async {
                    sleep_until(deadline).await;
                    Event::Timer
                };
                // Commands first: a flag changed before a message arrived
                // is usually seen before that message is read; a stall
                // that begins while the read is under way holds the
                // message instead (below).
                if stall {
                    or(command, timer).await
                } else {
                    or(
                        command,
                        or(async { Event::Message(ws.next().await) }, timer),
                    )
                    .await
                }
            };
            let handled = match event {
                // The flag was read before the message: a stall that began
                // in between holds it.
                Event::Message(Some(Ok(message))) if self.flags().stall => {
                    self.held.push(message);
                    Ok(())
                }
                Event::Message(Some(Ok(message))) => self.on_message(message),
                Event::Held => std::mem::take(&mut self.held)
                    .into_iter()
                    .try_for_each(|message| self.on_message(message)),
                Event::Message(None | Some(Err(_)))
                | Event::Command(None | Some(ConnCmd::Drop)) => return,
                Event::Command(Some(command)) => self.on_command(command).await,
                Event::Timer => {
                    let now = Instant::now();
                    if self.closing_at.is_some_and(|at| at <= now) {
                        return;
                    }
                    let (due, later) = std::mem::take(&mut self.delayed)
                        .into_iter()
                        .partition(|(at, _)| *at <= now);
                    self.delayed = later;
                    self.outbox.extend(due.into_iter().map(|(_, line)| line));
                    self.flush_at = None;
                    self.flush().await
                }
            };
            if handled.is_err() {
                return;
            }
            if self.outbox.is_empty() || self.closing_at.is_some() {
                self.outbox.clear();
                self.flush_at = None;
            } else if !merge {
                if self.flush().await.is_err() {
                    return;
                }
            } else if self.flush_at.is_none() {
                self.flush_at = Some(Instant::now() + self.shared.options.merge_window);
            }
        }
    }

    async fn on_command(&mut self, command: ConnCmd) -> Result<(), Broken> {
        match command {
            ConnCmd::Lines(lines) => self.outbox.extend(lines),
            ConnCmd::Raw(messages) => {
                self.flush().await?;
                for message in messages {
                    self.send(Message::text(message)).await?;
                }
            }
            ConnCmd::Binary(bytes) => {
                self.flush().await?;
                self.send(Message::binary(bytes)).await?;
            }
            ConnCmd::Close(code, reason) => {
                self.flush().await?;
                self.close(code, &reason).await?;
            }
            ConnCmd::Drop | ConnCmd::Wake => {}
        }
        Ok(())
    }

    fn on_message(&mut self, message: Message) -> Result<(), Broken> {
        let text = match message {
            Message::Text(text) => text.as_str().to_owned(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Ping(_) => {
                self.shared.lock().seen.pings += 1;
                return Ok(());
            }
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((None, String::new()), |f| {
                    (Some(u16::from(f.code)), f.reason.as_str().to_owned())
                });
                let mut state = self.shared.lock();
                state.seen.closes.push(SeenClose {
                    gateway: self.gateway.clone(),
                    connection: self.id,
                    code,
                    reason,
                    in_reply: self.closing_at.is_some(),
                });
                // Closing: live pushes must go elsewhere or be buffered.
                if let Some(entry) = state.conns.get_mut(&self.id) {
                    entry.ready = false;
                }
                return Ok(());
            }
            Message::Pong(_) | Message::Frame(_) => return Ok(()),
        };
        self.line.push_str(&text);
        while let Some(end) = self.line.find('\n') {
            let line: String = self.line.drain(..=end).collect();
            self.on_line(line.trim_end_matches(['\n', '\r']));
        }
        if self.line.len() > MAX_LINE {
            // A runaway partial line: drop the connection.
            return Err(Broken);
        }
        Ok(())
    }

    fn on_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let frame = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(frame)) => frame,
            _ => {
                self.shared.lock().seen.unparsable_lines += 1;
                return;
            }
        };
        let mut state = self.shared.lock();
        state.seen.frames.push(SeenFrame {
            gateway: self.gateway.clone(),
            connection: self.id,
            frame: Value::Object(frame.clone()),
        });
        if !self.served || self.closing_at.is_some() {
            return;
        }
        let gateway = state.gateway(&self.gateway);
        match frame.get("type").and_then(Value::as_str) {
            Some("hello") => {
                let Some(platform) = frame.get("platform").and_then(Value::as_str) else {
                    return;
                };
                if gateway.withhold {
                    return;
                }
                let bot_id = frame.get("botId").and_then(Value::as_str).unwrap_or("");
                let descriptor = match &self.shared.options.descriptor_for {
                    Some(make) => make(platform, bot_id),
                    None => super::default_descriptor(platform),
                };
                self.outbox.push(line_of(
                    &json!({"type": "descriptor", "descriptor": descriptor}),
                ));
                if !self.ready {
                    self.ready = true;
                    self.outbox
                        .extend(gateway.buffered.iter().map(|b| b.line.clone()));
                    if let Some(entry) = state.conns.get_mut(&self.id) {
                        entry.ready = true;
                    }
                }
            }
            Some("outbound") => {
                let Some(request_id) = frame.get("requestId") else {
                    return;
                };
                let action = frame.get("action").cloned().unwrap_or(Value::Null);
                let op = action.get("op").and_then(Value::as_str).unwrap_or("");
                let result = match state.results.get(op) {
                    Some(configured) => configured.clone(),
                    None => {
                        let mut result = self.shared.options.default_result.clone();
                        if self.shared.options.echo_action {
                            if let Value::Object(map) = &mut result {
                                map.entry("echo").or_insert(action.clone());
                            }
                        }
                        Some(result)
                    }
                };
                if let Some(result) = result {
                    let line = line_of(&json!({
                        "type": "outbound_result",
                        "requestId": request_id,
                        "result": result,
                    }));
                    let gateway = state.gateway(&self.gateway);
                    let copies = if gateway.duplicate_results { 2 } else { 1 };
                    for _ in 0..copies {
                        match gateway.result_delay {
                            Some(delay) => {
                                self.delayed.push((Instant::now() + delay, line.clone()))
                            }
                            None => self.outbox.push(line.clone()),
                        }
                    }
                }
            }
            Some("going_idle") => {
                gateway.idle = true;
                self.outbox
                    .push(line_of(&json!({"type": "going_idle_ack"})));
            }
            Some("inbound_ack") => {
                if let Some(id) = frame.get("bufferId").and_then(Value::as_str) {
                    gateway.buffered.retain(|b| b.buffer_id != id);
                    state.seen.acks.push(id.to_owned());
                }
            }
            _ => {}
        }
    }

    /// Writes the outbox: one message per line, or one for all when
    /// merging; each message in pieces when splitting. Held while stalled.
    async fn flush(&mut self) -> Result<(), Broken> {
        let Flags {
            stall,
            split,
            merge,
            binary,
        } = self.flags();
        if self.outbox.is_empty() || stall || self.closing_at.is_some() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.outbox);
        let messages = if merge { vec![lines.concat()] } else { lines };
        let as_message = |text: String| {
            if binary {
                Message::binary(text.into_bytes())
            } else {
                Message::text(text)
            }
        };
        for message in messages {
            if split {
                for piece in split_in_pieces(&message) {
                    self.send(as_message(piece)).await?;
                }
            } else {
                self.send(as_message(message)).await?;
            }
        }
        Ok(())
    }

    /// Sends a close frame and starts waiting for the answer.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), Broken> {
        if self.closing_at.is_some() {
            return Ok(());
        }
        let mut end = reason.len().min(MAX_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.closing_at = Some(Instant::now() + self.shared.options.close_grace);
        self.outbox.clear();
        // Closing: live pushes must go elsewhere or be buffered.
        if let Some(entry) = self.shared.lock().conns.get_mut(&self.id) {
            entry.ready = false;
        }
        self.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason[..end].to_owned().into(),
        })))
        .await
    }

    /// Sends one message within the write timeout.
    async fn send(&mut self, message: Message) -> Result<(), Broken> {
        let ws = &mut self.ws;
        let sent = or(async { Some(ws.send(message).await) }, async {
            Timer::after(WRITE_TIMEOUT).await;
            None
        })
        .await;
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(Broken),
        }
    }
}

/// Builds a frame object `{"type": kind, key: value}`.
pub(super) fn frame_with(kind: &str, key: &str, value: Value) -> Map<String, Value> {
    let mut frame = Map::new();
    frame.insert("type".to_owned(), Value::String(kind.to_owned()));
    frame.insert(key.to_owned(), value);
    frame
}

/// The pieces of an oversized partial line of `bytes` bytes, without `'\n'`,
/// in messages of at most 1 MiB.
pub(super) fn oversized_partial(bytes: usize) -> Vec<String> {
    const CHUNK: usize = 1024 * 1024;
    let head = "{\"type\":\"inbound\",\"pad\":\"";
    let mut text = String::with_capacity(bytes);
    text.push_str(&head[..head.len().min(bytes)]);
    text.extend(std::iter::repeat_n('x', bytes - text.len()));
    split_ascii(&text, CHUNK)
}

/// Splits ASCII `text` into chunks of at most `size` bytes.
fn split_ascii(text: &str, size: usize) -> Vec<String> {
    text.as_bytes()
        .chunks(size.max(1))
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// The garbage lines, as a command.
pub(super) fn garbage() -> ConnCmd {
    ConnCmd::Lines(garbage_lines())
}
