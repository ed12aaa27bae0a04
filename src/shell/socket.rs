//! One WebSocket connection: the dial, and the reader and writer tasks
//! that carry its traffic to and from the driver.
//!
//! Nothing here decides anything: dial outcomes and socket events go back
//! to the driver (and from there into the core) tagged with their
//! generation. Reading and writing run in their own tasks so a stalled
//! peer can never block the driver.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_util::StreamExt;
use smol::channel::{Receiver, Sender};
use smol::net::TcpStream;
use smol::Task;

use super::driver::ToDriver;
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

/// What a connection's reader reports.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    Text(String),
    Heard,
    Closed { code: Option<u16>, reason: String },
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

/// What the driver hands a connection's writer.
enum Outgoing {
    /// A data or control message.
    Message(Message),
    /// A close frame, to be sent within `grace`; the writer ends after it.
    Close(CloseFrame, Duration),
}

type Stream = async_tungstenite::smol::ClientStream<TcpStream>;

/// The driver's side of an open connection.
pub(crate) struct Conn {
    pub(crate) gen: Generation,
    outgoing: Sender<Outgoing>,
    writer: Option<Task<()>>,
    _reader: Task<()>,
}

impl Conn {
    /// Splits `ws` into a reader and a writer task.
    pub(crate) fn start(gen: Generation, ws: Ws, to_driver: Sender<ToDriver>) -> Self {
        let (sink, stream) = ws.split();
        let (outgoing, queue) = smol::channel::unbounded();
        let writer = smol::spawn(write_loop(sink, queue));
        let reader = smol::spawn(read_loop(gen, stream, to_driver));
        Self {
            gen,
            outgoing,
            writer: Some(writer),
            _reader: reader,
        }
    }

    /// Queues one message for the writer (never blocks).
    pub(crate) fn send(&self, message: Message) {
        let _ = self.outgoing.try_send(Outgoing::Message(message));
    }

    /// Queues a close frame the writer sends within `grace`; the reader
    /// stops at once. Returns the writer task, to await or detach.
    pub(crate) fn close(mut self, code: u16, reason: &str, grace: Duration) -> Option<Task<()>> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        let _ = self.outgoing.try_send(Outgoing::Close(frame, grace));
        self.writer.take()
    }
}

async fn write_loop(mut sink: WebSocketSender<Stream>, queue: Receiver<Outgoing>) {
    while let Ok(outgoing) = queue.recv().await {
        match outgoing {
            Outgoing::Message(message) => {
                if sink.send(message).await.is_err() {
                    // The reader reports the verdict (a close frame or
                    // EOF); a failed write is not one.
                    return;
                }
            }
            Outgoing::Close(frame, grace) => {
                let close = sink.close(Some(frame));
                let _ = smol::future::or(async { close.await.is_ok() }, async {
                    smol::Timer::after(grace).await;
                    false
                })
                .await;
                return;
            }
        }
    }
}

async fn read_loop(
    gen: Generation,
    mut stream: WebSocketReceiver<Stream>,
    to_driver: Sender<ToDriver>,
) {
    let report = |event| ToDriver::Socket { gen, event };
    while let Some(message) = stream.next().await {
        let event = match message {
            Ok(Message::Text(text)) => SocketEvent::Text(text.as_str().to_owned()),
            Ok(Message::Binary(bytes)) => {
                SocketEvent::Text(String::from_utf8_lossy(&bytes).into_owned())
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => SocketEvent::Heard,
            Ok(Message::Frame(_)) => continue,
            Ok(Message::Close(frame)) => {
                let (code, reason) = match frame {
                    Some(frame) => (
                        Some(u16::from(frame.code)),
                        frame.reason.as_str().to_owned(),
                    ),
                    None => (None, String::new()),
                };
                let _ = to_driver
                    .send(report(SocketEvent::Closed { code, reason }))
                    .await;
                return;
            }
            Err(e) => {
                let _ = to_driver
                    .send(report(SocketEvent::Closed {
                        code: None,
                        reason: e.to_string(),
                    }))
                    .await;
                return;
            }
        };
        if to_driver.send(report(event)).await.is_err() {
            return;
        }
    }
    let _ = to_driver
        .send(report(SocketEvent::Closed {
            code: None,
            reason: "end of stream".into(),
        }))
        .await;
}
