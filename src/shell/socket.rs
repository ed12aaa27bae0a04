//! One WebSocket connection: the dial, and the one task that carries the
//! connection's traffic to and from the driver.
//!
//! Nothing here decides anything: dial outcomes and socket events go back
//! to the driver (and from there into the core) tagged with their
//! generation. The connection task reads, writes and closes; it never
//! blocks its writes on the driver, so a driver that stops taking socket
//! events (the application is not reading) stops only the reading: the
//! bytes wait in TCP while pings, requests and close frames still go out.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::CapacityError;
use async_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_util::{Sink, Stream};
use smol::channel::{Receiver, Sender, TrySendError};
use smol::net::TcpStream;
use smol::Task;

use super::driver::ToDriver;
use super::tasks::TaskCount;
use crate::input::DialFailure;
use crate::token::Token;
use crate::Generation;

/// The read chunk of a connection. tungstenite zero-fills its whole read
/// buffer before each read, so every connection keeps this much resident;
/// its default (128 KiB) made an idle link cost ~155 KiB of RSS. Messages
/// larger than this still arrive whole (the buffer grows for them).
const READ_BUFFER: usize = 16 * 1024;

/// The stream type of a connection (plain TCP or TLS over TCP).
pub(crate) type Ws = WebSocketStream<async_tungstenite::smol::ClientStream<TcpStream>>;

#[cfg(feature = "tls")]
pub(crate) type Tls = Option<futures_rustls::TlsConnector>;
#[cfg(not(feature = "tls"))]
pub(crate) type Tls = Option<()>;

/// What a connection reports.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    Text(String),
    Heard,
    /// One WebSocket message was larger than the frame limit.
    TooLarge,
    Closed {
        code: Option<u16>,
        reason: String,
    },
}

/// How a connection's close ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseOutcome {
    /// Our close frame was flushed and the peer answered it (or ended the
    /// stream after it).
    Acknowledged,
    /// Our close frame was flushed; no answer within the grace.
    Flushed,
    /// The grace ran out (or the socket failed) before our close frame
    /// was flushed.
    NotFlushed,
    /// The peer closed first; its close frame was echoed (or the grace ran
    /// out trying).
    PeerClosed,
    /// The driver let the connection go without a close.
    Dropped,
}

/// Seconds since the Unix epoch, for minting a token at dial time.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Dials `url`, carrying `token` as a bearer token, and reports the
/// outcome to the driver. The driver enforces the connect timeout by
/// dropping this task.
pub(crate) async fn dial(
    gen: Generation,
    url: String,
    token: Option<Token>,
    tls: Tls,
    to_driver: Sender<ToDriver>,
    _count: TaskCount,
) {
    let result = open(&url, token, tls).await.map(Box::new);
    let _ = to_driver.send(ToDriver::Dialed { gen, result }).await;
}

async fn open(url: &str, token: Option<Token>, tls: Tls) -> Result<Ws, DialFailure> {
    let io = |message: String| DialFailure::Io { message };
    let mut request = url
        .into_client_request()
        .map_err(|e| io(format!("invalid url: {e}")))?;
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&token.bearer_header_value())
            .map_err(|_| io("token is not a valid header value".into()))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let uri = request.uri();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let secure = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| io(format!("connect {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    match async_tungstenite::smol::client_async_tls_with_connector_and_config(
        request,
        tcp,
        tls,
        Some(config),
    )
    .await
    {
        Ok((ws, _response)) => Ok(ws),
        Err(WsError::Http(response)) => Err(DialFailure::Http {
            status: response.status().as_u16(),
        }),
        Err(e) => Err(io(e.to_string())),
    }
}

/// What the driver hands a connection.
enum Outgoing {
    /// A data or control message.
    Message(Message),
    /// A close frame, to be flushed and answered within `grace`; the
    /// connection ends after it.
    Close(CloseFrame, Duration),
}

/// The driver's side of an open connection.
pub(crate) struct Conn {
    pub(crate) gen: Generation,
    outgoing: Sender<Outgoing>,
    task: Task<CloseOutcome>,
}

impl Conn {
    /// Starts the connection's task.
    pub(crate) fn start(
        gen: Generation,
        ws: Ws,
        to_driver: Sender<ToDriver>,
        count: TaskCount,
    ) -> Self {
        let (outgoing, queue) = smol::channel::unbounded();
        let task = smol::spawn(async move {
            let _count = count;
            run(gen, ws, queue, to_driver).await
        });
        Self {
            gen,
            outgoing,
            task,
        }
    }

    /// Queues one message (never blocks).
    pub(crate) fn send(&self, message: Message) {
        let _ = self.outgoing.try_send(Outgoing::Message(message));
    }

    /// Queues a close frame, flushed after everything queued before it and
    /// answered within `grace`. Returns the task, which ends with the
    /// outcome.
    pub(crate) fn close(self, code: u16, reason: &str, grace: Duration) -> Task<CloseOutcome> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        let _ = self.outgoing.try_send(Outgoing::Close(frame, grace));
        self.task
    }

    /// The peer ended the connection; the task is finishing (echoing the
    /// peer's close frame). Returns it, to reap or await.
    pub(crate) fn ended(self) -> Task<CloseOutcome> {
        self.task
    }
}

/// Why the connection's main loop stopped.
enum Stop {
    /// The driver asked for a close.
    Close(CloseFrame, Duration),
    /// The peer sent a close frame (or the stream ended or failed).
    Ended { code: Option<u16>, reason: String },
    /// The driver dropped the connection.
    Dropped,
}

/// The connection: reads (while the driver takes what it reads), writes
/// (always), and closes.
async fn run(
    gen: Generation,
    mut ws: Ws,
    queue: Receiver<Outgoing>,
    to_driver: Sender<ToDriver>,
) -> CloseOutcome {
    let mut queue = pin!(queue);
    // A socket event the driver could not take yet: while it waits, the
    // connection reads nothing more (TCP backpressure).
    let mut waiting: Option<Pin<Box<smol::channel::Send<'_, ToDriver>>>> = None;
    let mut unflushed = false;
    let mut reading = true;
    let stop = std::future::poll_fn(|cx| {
        if let Some(stop) = poll_writes(&mut ws, queue.as_mut(), &mut unflushed, cx) {
            return Poll::Ready(stop);
        }
        if let Some(send) = waiting.as_mut() {
            match send.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => waiting = None,
                Poll::Ready(Err(_)) => return Poll::Ready(Stop::Dropped),
                Poll::Pending => return Poll::Pending,
            }
        }
        while reading {
            let event = match Pin::new(&mut ws).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(message))) => match message {
                    Message::Text(text) => SocketEvent::Text(text.as_str().to_owned()),
                    Message::Binary(bytes) => {
                        SocketEvent::Text(String::from_utf8_lossy(&bytes).into_owned())
                    }
                    Message::Ping(_) | Message::Pong(_) => SocketEvent::Heard,
                    Message::Frame(_) => continue,
                    Message::Close(frame) => {
                        let (code, reason) = match frame {
                            Some(frame) => (
                                Some(u16::from(frame.code)),
                                frame.reason.as_str().to_owned(),
                            ),
                            None => (None, String::new()),
                        };
                        return Poll::Ready(Stop::Ended { code, reason });
                    }
                },
                Poll::Ready(Some(Err(WsError::Capacity(CapacityError::MessageTooLong {
                    ..
                })))) => {
                    // The stream is unusable for reading now, but the
                    // socket still writes: the core answers with 1009.
                    reading = false;
                    SocketEvent::TooLarge
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Stop::Ended {
                        code: None,
                        reason: e.to_string(),
                    })
                }
                Poll::Ready(None) => {
                    return Poll::Ready(Stop::Ended {
                        code: None,
                        reason: "end of stream".into(),
                    })
                }
            };
            match to_driver.try_send(ToDriver::Socket { gen, event }) {
                Ok(()) => {}
                Err(TrySendError::Closed(_)) => return Poll::Ready(Stop::Dropped),
                Err(TrySendError::Full(message)) => {
                    let mut send = Box::pin(to_driver.send(message));
                    match send.as_mut().poll(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(_)) => return Poll::Ready(Stop::Dropped),
                        Poll::Pending => {
                            waiting = Some(send);
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
        Poll::Pending
    })
    .await;
    match stop {
        Stop::Dropped => CloseOutcome::Dropped,
        Stop::Close(frame, grace) => close(&mut ws, frame, grace).await,
        Stop::Ended { code, reason } => {
            // Whatever the driver has not taken yet goes first, then the
            // verdict; meanwhile the peer's close frame is echoed (tungstenite
            // queued the reply; reading on flushes it).
            let report = async {
                if let Some(send) = waiting.take() {
                    let _ = send.await;
                }
                let event = SocketEvent::Closed { code, reason };
                let _ = to_driver.send(ToDriver::Socket { gen, event }).await;
            };
            let echo = within(super::driver::CLOSE_GRACE, drain(&mut ws));
            smol::future::zip(report, echo).await;
            CloseOutcome::PeerClosed
        }
    }
}

/// Writes what the driver queued, as far as the socket takes it. Returns
/// why the connection must stop, if it must.
fn poll_writes(
    ws: &mut Ws,
    mut queue: Pin<&mut Receiver<Outgoing>>,
    unflushed: &mut bool,
    cx: &mut Context<'_>,
) -> Option<Stop> {
    loop {
        match Pin::new(&mut *ws).poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            // The read side reports the verdict (a close frame or EOF).
            Poll::Ready(Err(_)) | Poll::Pending => break,
        }
        match queue.as_mut().poll_next(cx) {
            Poll::Ready(Some(Outgoing::Message(message))) => {
                if Pin::new(&mut *ws).start_send(message).is_ok() {
                    *unflushed = true;
                }
            }
            Poll::Ready(Some(Outgoing::Close(frame, grace))) => {
                return Some(Stop::Close(frame, grace))
            }
            Poll::Ready(None) => return Some(Stop::Dropped),
            Poll::Pending => break,
        }
    }
    if *unflushed && Pin::new(&mut *ws).poll_flush(cx).is_ready() {
        *unflushed = false;
    }
    None
}

/// Sends our close frame (after everything queued before it) and waits
/// for the peer's answer, all within `grace`.
async fn close(ws: &mut Ws, frame: CloseFrame, grace: Duration) -> CloseOutcome {
    let deadline = std::time::Instant::now().checked_add(grace);
    match within(grace, ws.send(Message::Close(Some(frame)))).await {
        Some(Ok(())) => {}
        Some(Err(_)) | None => return CloseOutcome::NotFlushed,
    }
    let left = deadline.map_or(Duration::MAX, |at| {
        at.saturating_duration_since(std::time::Instant::now())
    });
    match within(left, drain(ws)).await {
        Some(()) => CloseOutcome::Acknowledged,
        None => CloseOutcome::Flushed,
    }
}

/// Reads until the peer's close frame or the end of the stream; reading
/// also flushes a queued close reply.
async fn drain(ws: &mut Ws) {
    use futures_util::StreamExt;
    while let Some(message) = ws.next().await {
        if matches!(message, Ok(Message::Close(_)) | Err(_)) {
            break;
        }
    }
}

/// `f`, or `None` when it takes longer than `limit` (a limit too far to
/// represent never fires).
pub(crate) async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(f.await) }, async {
        match std::time::Instant::now().checked_add(limit) {
            Some(at) => smol::Timer::at(at).await,
            None => smol::Timer::never().await,
        };
        None
    })
    .await
}
