//! One WebSocket connection: the dial, and the [`Connection`] the driver
//! polls to read, write and close it.
//!
//! Nothing here decides anything: dial outcomes and socket events go back
//! to the driver (and from there into the core) tagged with their
//! generation. Writing never waits for reading, so a driver that stops
//! taking socket events (the application is not reading) stops only the
//! reading: the bytes wait in TCP while pings, requests and close frames
//! still go out.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::CapacityError;
use async_tungstenite::tungstenite::http::header::{HeaderValue, USER_AGENT};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};

use super::auth_header::WithAuthorization;
use super::dial_error;
use super::runtime::{BoxIo, Runtime};

use crate::input::DialFailure;
use crate::token::Token;
use crate::Generation;

/// The read chunk of a connection. tungstenite zero-fills its whole read
/// buffer before each read, so every connection keeps this much resident;
/// its default (128 KiB) made an idle link cost ~155 KiB of RSS. Messages
/// larger than this still arrive whole (the buffer grows for them).
const READ_BUFFER: usize = 16 * 1024;

/// How many queued messages, or wake-ups of the driver without a write,
/// make [`Connection::poll_write_batch`] write before the turn ends.
const WRITE_BATCH: usize = 32;

/// The stream type of a connection (plain TCP or TLS over TCP).
pub(crate) type Ws = WebSocketStream<BoxIo>;

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
}

/// The `User-Agent` of every upgrade request (contract §1).
const AGENT: &str = concat!("relay-link/", env!("CARGO_PKG_VERSION"));

/// Seconds since the Unix epoch, for minting a token at dial time.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Dials `url` with the `User-Agent` [`AGENT`], carrying `token` as a
/// bearer token; reads messages (and frames) up to `max_message` bytes
/// ([`message_limit`](crate::decoder::message_limit)), so tungstenite
/// refuses a longer one as it arrives instead of its own defaults (16 MiB
/// per frame, 64 MiB per message) deciding. The driver
/// enforces the connect timeout by dropping this future.
pub(crate) async fn open(
    runtime: Runtime,
    url: String,
    token: Option<Token>,
    tls: Tls,
    max_message: usize,
) -> Result<Ws, DialFailure> {
    let io = dial_error::other;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| io(format!("invalid url: {e}")))?;
    request
        .headers_mut()
        .insert(USER_AGENT, HeaderValue::from_static(AGENT));
    // The token is checked as a header value here but added below
    // tungstenite, which logs the requests it writes (`auth_header`).
    let bearer = token.map(|token| token.bearer_header_value());
    if let Some(bearer) = &bearer {
        HeaderValue::from_str(bearer)
            .map_err(|_| io("token is not a valid header value".into()))?;
    }
    let uri = request.uri();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let secure = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = runtime
        .connect(&host, port)
        .await
        .map_err(|e| dial_error::connect(&format!("{host}:{port}"), &e))?;
    let stream = if secure {
        secure_stream(tcp, &host, tls).await?
    } else {
        tcp
    };
    let stream: BoxIo = match &bearer {
        Some(bearer) => Box::new(WithAuthorization::new(stream, bearer)),
        None => stream,
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    match async_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((ws, _response)) => Ok(ws),
        Err(e) => Err(dial_error::upgrade(e)),
    }
}

/// TLS over `tcp` for `host`.
#[cfg(feature = "tls")]
async fn secure_stream(tcp: BoxIo, host: &str, tls: Tls) -> Result<BoxIo, DialFailure> {
    let connector =
        tls.ok_or_else(|| dial_error::other("wss:// without a TLS configuration".into()))?;
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| dial_error::tls(format!("invalid server name {host:?}: {e}")))?;
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(dial_error::tls)?;
    Ok(Box::new(stream))
}

#[cfg(not(feature = "tls"))]
async fn secure_stream(_tcp: BoxIo, _host: &str, _tls: Tls) -> Result<BoxIo, DialFailure> {
    Err(dial_error::other("wss:// needs the `tls` feature".into()))
}

/// A future the driver owns (a dial, a close handshake).
pub(crate) type Owned<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Whether a connection may have something to read. The socket is polled
/// with a waker of its own ([`Wake`] below), so the driver, woken for
/// anything else (a request, a timer, its own writes), does not try a read
/// that can only fail: one `recv` returning `EAGAIN` less per wake-up.
#[derive(Default)]
struct ReadReady {
    /// Set by the socket's wake-up and after each message read (more may
    /// be buffered); cleared before each read attempt.
    ready: AtomicBool,
    /// The driver's task, woken with the socket.
    task: AtomicWaker,
}

impl Wake for ReadReady {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// An open connection, owned and polled by the driver: no task of its
/// own and no channel between the socket and the core.
pub(crate) struct Connection {
    pub(crate) gen: Generation,
    ws: Ws,
    read_ready: Arc<ReadReady>,
    /// A waker of `read_ready`, for polling the socket's read side.
    read_waker: Waker,
    /// Messages the socket has not taken yet, in order.
    outbox: VecDeque<Message>,
    unflushed: bool,
    /// A write failed: nothing more can go out.
    write_failed: bool,
    /// Wake-ups of the driver since the last write.
    unwritten_turns: usize,
    /// False once reading failed for good (a message over the limits);
    /// the socket still writes, so the core's close goes out.
    reading: bool,
}

impl Connection {
    /// Wraps an open socket.
    pub(crate) fn new(gen: Generation, ws: Ws) -> Self {
        let read_ready = Arc::new(ReadReady::default());
        // The first read is always tried.
        read_ready.ready.store(true, Ordering::Relaxed);
        Self {
            gen,
            ws,
            read_waker: Waker::from(Arc::clone(&read_ready)),
            read_ready,
            outbox: VecDeque::new(),
            unflushed: false,
            write_failed: false,
            unwritten_turns: 0,
            reading: true,
        }
    }

    /// Queues one message; [`poll_write`](Self::poll_write) sends it.
    pub(crate) fn send(&mut self, message: Message) {
        self.outbox.push_back(message);
    }

    /// Writes what is queued as far as the socket takes it, then flushes
    /// (once for the whole batch). A failed write is left to the read side
    /// to report (a close frame or EOF).
    pub(crate) fn poll_write(&mut self, cx: &mut Context<'_>) {
        self.unwritten_turns = 0;
        while !self.outbox.is_empty() {
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    self.write_failed = true;
                    self.outbox.clear();
                    break;
                }
                Poll::Pending => break,
            }
            if let Some(message) = self.outbox.pop_front() {
                if Pin::new(&mut self.ws).start_send(message).is_ok() {
                    self.unflushed = true;
                } else {
                    self.write_failed = true;
                }
            }
        }
        if self.unflushed && Pin::new(&mut self.ws).poll_flush(cx).is_ready() {
            self.unflushed = false;
        }
    }

    /// Writes like [`poll_write`](Self::poll_write) once a batch has
    /// gathered, or when the driver has woken [`WRITE_BATCH`] times without
    /// writing (a long turn under a flood still lets pings and acks out).
    /// The driver writes at the end of every turn anyway: requests that
    /// arrive together go out in one write.
    pub(crate) fn poll_write_batch(&mut self, cx: &mut Context<'_>) {
        if self.outbox.len() >= WRITE_BATCH || self.unwritten_turns >= WRITE_BATCH {
            self.poll_write(cx);
        } else {
            self.unwritten_turns += 1;
        }
    }

    /// The next thing read from the socket; tried only when the socket
    /// has woken the driver since it last ran dry (see [`ReadReady`]).
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<SocketEvent> {
        self.read_ready.task.register(cx.waker());
        if !self.read_ready.ready.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let event = self.read_next();
        if event.is_ready() {
            // More may be buffered already: look again next time.
            self.read_ready.ready.store(true, Ordering::Release);
        }
        event
    }

    /// Reads the next message, the socket's wake-up going to `read_ready`.
    fn read_next(&mut self) -> Poll<SocketEvent> {
        let mut cx = Context::from_waker(&self.read_waker);
        while self.reading {
            let message = match Pin::new(&mut self.ws).poll_next(&mut cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(message))) => message,
                Poll::Ready(Some(Err(WsError::Capacity(CapacityError::MessageTooLong {
                    ..
                })))) => {
                    // Unreadable from now on, but the socket still writes:
                    // the core answers with 1009.
                    self.reading = false;
                    return Poll::Ready(SocketEvent::TooLarge);
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(SocketEvent::Closed {
                        code: None,
                        reason: e.to_string(),
                    })
                }
                Poll::Ready(None) => {
                    return Poll::Ready(SocketEvent::Closed {
                        code: None,
                        reason: "end of stream".into(),
                    })
                }
            };
            return Poll::Ready(match message {
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
                    SocketEvent::Closed { code, reason }
                }
            });
        }
        Poll::Pending
    }

    /// The core closes the connection: what is queued goes first, then the
    /// close frame, flushed and answered within `grace`.
    pub(crate) fn close(
        mut self,
        runtime: Runtime,
        code: u16,
        reason: &str,
        grace: Duration,
    ) -> Owned<CloseOutcome> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        self.outbox.push_back(Message::Close(Some(frame)));
        Box::pin(async move {
            let deadline = std::time::Instant::now().checked_add(grace);
            let flush = std::future::poll_fn(|cx| {
                self.poll_write(cx);
                if self.outbox.is_empty() && !self.unflushed {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            if runtime.within(grace, flush).await.is_none() || self.write_failed {
                return CloseOutcome::NotFlushed;
            }
            let left = deadline.map_or(Duration::MAX, |at| {
                at.saturating_duration_since(std::time::Instant::now())
            });
            match runtime.within(left, drain(&mut self.ws)).await {
                Some(()) => CloseOutcome::Acknowledged,
                None => CloseOutcome::Flushed,
            }
        })
    }

    /// The peer ended the connection: echo its close frame (tungstenite
    /// queued the reply; reading on flushes it) within the close grace.
    pub(crate) fn ended(mut self, runtime: Runtime, grace: Duration) -> Owned<CloseOutcome> {
        Box::pin(async move {
            runtime.within(grace, drain(&mut self.ws)).await;
            CloseOutcome::PeerClosed
        })
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::atomic::AtomicUsize;

    use async_tungstenite::tungstenite::protocol::Role;
    use smol::io::{AsyncRead, AsyncWrite};

    use super::*;

    /// A socket that never has anything to read and takes every write;
    /// counts read attempts and writes.
    #[derive(Default, Clone)]
    struct Silent {
        reads: Arc<AtomicUsize>,
        writes: Arc<AtomicUsize>,
    }

    /// A connection over `io`.
    fn connection(io: &Silent) -> Connection {
        let boxed: BoxIo = Box::new(io.clone());
        let ws = smol::block_on(Ws::from_raw_socket(boxed, Role::Client, None));
        Connection::new(Generation(1), ws)
    }

    impl AsyncRead for Silent {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            Poll::Pending
        }
    }

    impl AsyncWrite for Silent {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_socket_that_has_not_woken_the_driver_is_not_read_again() {
        let io = Silent::default();
        let reads = &io.reads;
        let mut conn = connection(&io);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(conn.poll_read(&mut cx).is_pending());
        assert_eq!(reads.load(Ordering::Relaxed), 1, "the first read is tried");
        // Woken for something else (a request, its own writes): no read.
        conn.send(Message::text("{}\n"));
        conn.poll_write(&mut cx);
        assert!(conn.poll_read(&mut cx).is_pending());
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        // The socket's own wake-up makes the next turn read again.
        conn.read_waker.wake_by_ref();
        assert!(conn.poll_read(&mut cx).is_pending());
        assert_eq!(reads.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn queued_messages_go_out_in_one_write_per_batch_or_turn() {
        let io = Silent::default();
        let writes = || io.writes.load(Ordering::Relaxed);
        let mut conn = connection(&io);
        let mut cx = Context::from_waker(Waker::noop());
        // Requests handled one wake-up after another: nothing written yet.
        for n in 0..3 {
            conn.send(Message::text(format!("{{\"n\":{n}}}\n")));
            conn.poll_write_batch(&mut cx);
        }
        assert_eq!(writes(), 0);
        // The end of the turn writes all three at once.
        conn.poll_write(&mut cx);
        assert_eq!(writes(), 1);
        // A full batch goes out before the turn ends.
        for _ in 0..WRITE_BATCH {
            conn.send(Message::text("{}\n"));
        }
        conn.poll_write_batch(&mut cx);
        assert_eq!(writes(), 2);
        // So does one message after a long turn without a write.
        conn.send(Message::Ping(Vec::new().into()));
        for _ in 0..WRITE_BATCH {
            conn.poll_write_batch(&mut cx);
        }
        assert_eq!(writes(), 2);
        conn.poll_write_batch(&mut cx);
        assert_eq!(writes(), 3);
    }
}
