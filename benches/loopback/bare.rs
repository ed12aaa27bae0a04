//! The bare baselines: a WebSocket client with no link around it, written
//! once over any WebSocket stream (async-tungstenite on smol,
//! tokio-tungstenite on tokio: both are tungstenite's `Message`s).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Map, Value};

use crate::common::{action, blast_line, for_each_line, hello_line, SEED};

/// What a bare client needs of its WebSocket.
pub trait Ws: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Unpin {}
impl<T: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Unpin> Ws for T {}

/// The read chunk the shell configures (`src/shell/socket.rs`), for the
/// bare connections of the memory reference.
pub const SHELL_READ_BUFFER: usize = 16 * 1024;

/// The WebSocket config of the memory reference: the shell's read buffer.
pub fn shell_like_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(SHELL_READ_BUFFER)
}

/// The URL a bare client upgrades with.
pub fn relay_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/relay")
}

/// Sends the hello and waits for the descriptor.
pub async fn hello<W: Ws>(ws: &mut W) {
    ws.send(Message::text(hello_line())).await.expect("hello");
    while let Some(Ok(message)) = ws.next().await {
        if message
            .to_text()
            .is_ok_and(|t| t.contains("\"descriptor\""))
        {
            return;
        }
    }
    panic!("no descriptor");
}

/// A bare smol client: connect, hello, wait for the descriptor. `config`
/// `None` is async-tungstenite's default.
pub async fn connect_smol(
    addr: SocketAddr,
    config: Option<WebSocketConfig>,
) -> async_tungstenite::WebSocketStream<smol::net::TcpStream> {
    let tcp = smol::net::TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.set_nodelay(true);
    let url = relay_url(addr);
    let (mut ws, _) = async_tungstenite::client_async_with_config(url.as_str(), tcp, config)
        .await
        .expect("upgrade");
    hello(&mut ws).await;
    ws
}

/// Frames per second a bare client receives and splits (and, with
/// `parse`, also parses each line into a `serde_json::Value`), from the
/// `blast` request to the `n`th frame.
pub async fn inbound<W: Ws>(mut ws: W, n: usize, parse: bool) -> f64 {
    let start = Instant::now();
    ws.send(Message::text(blast_line())).await.expect("blast");
    let mut partial = String::new();
    let mut count = 0;
    let mut bytes = 0;
    while count < n {
        let Some(Ok(message)) = ws.next().await else {
            panic!("bare inbound: stream ended after {count} frames");
        };
        if let Message::Text(text) = message {
            for_each_line(&mut partial, text.as_str(), |line| {
                if parse {
                    let value: Value = serde_json::from_str(line).expect("json");
                    bytes += value.as_object().map_or(0, Map::len);
                } else {
                    bytes += line.len();
                }
                count += 1;
            });
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    let _ = ws.close().await;
    rate
}

/// A bare client's side of the round trips: one pipelined task that writes
/// `outbound` frames and matches the answers by `requestId`.
pub struct Requester<W> {
    ws: W,
    action: Value,
    next_id: u64,
    partial: String,
}

impl<W: Ws> Requester<W> {
    pub fn new(ws: W) -> Self {
        Requester {
            ws,
            action: Value::Object(action()),
            next_id: 0,
            partial: String::new(),
        }
    }

    fn frame(&mut self, pending: &mut HashSet<String>) -> Message {
        self.next_id += 1;
        let id = format!("{SEED:016x}{:016x}", self.next_id);
        let line = json!({
            "type": "outbound",
            "requestId": id,
            "action": self.action,
            "platform": "discord",
            "botId": "b1",
        });
        pending.insert(id);
        Message::text(format!("{line}\n"))
    }

    /// `n` round trips with at most `window` in flight; their duration.
    pub async fn block(&mut self, window: usize, n: usize) -> Duration {
        let start = Instant::now();
        let mut pending = HashSet::new();
        let mut sent = 0;
        let mut done = 0;
        while sent < window.min(n) {
            let frame = self.frame(&mut pending);
            self.ws.feed(frame).await.expect("write");
            sent += 1;
        }
        self.ws.flush().await.expect("flush");
        while done < n {
            let Some(Ok(message)) = self.ws.next().await else {
                panic!("bare round trips: stream ended");
            };
            let Message::Text(text) = message else {
                continue;
            };
            let mut answered = 0;
            for_each_line(&mut self.partial, text.as_str(), |line| {
                let value: Value = serde_json::from_str(line).expect("json");
                if let Some(id) = value["requestId"].as_str() {
                    if pending.remove(id) && value["result"]["success"] == true {
                        answered += 1;
                    }
                }
            });
            done += answered;
            for _ in 0..answered {
                if sent < n {
                    let frame = self.frame(&mut pending);
                    self.ws.feed(frame).await.expect("write");
                    sent += 1;
                }
            }
            self.ws.flush().await.expect("flush");
        }
        start.elapsed()
    }
}
