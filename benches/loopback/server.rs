//! The raw server of (a) and (b), and the inbound frames it writes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use async_tungstenite::tungstenite::Message;
use futures_util::{SinkExt, StreamExt};
use relay_link::testing::default_descriptor;
use serde_json::{json, Value};
use smol::net::{TcpListener, TcpStream};

use crate::common::for_each_line;

/// A minimal connector written directly on async-tungstenite, on its own
/// thread and executor: answers each `hello` with a descriptor, each
/// `outbound` with an `outbound_result` (same `requestId`), and an
/// `interrupt` with session key `blast` with every pre-built inbound
/// message, back to back.
pub struct RawServer {
    pub addr: SocketAddr,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    pub fn start(blast: Arc<Vec<Message>>) -> RawServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("raw-connector".into())
            .spawn(move || {
                let ex = std::rc::Rc::new(smol::LocalExecutor::new());
                smol::block_on(ex.run(async {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                    addr_tx.send(listener.local_addr().expect("addr")).unwrap();
                    // A task of its own: the executor's main future is
                    // polled on every wake-up of the thread.
                    let spawner = std::rc::Rc::clone(&ex);
                    let accept = ex.spawn(async move {
                        while let Ok((tcp, _)) = listener.accept().await {
                            let _ = tcp.set_nodelay(true);
                            spawner.spawn(serve_raw(tcp, Arc::clone(&blast))).detach();
                        }
                    });
                    let _ = stopped.recv().await;
                    drop(accept);
                }));
            })
            .expect("server thread");
        RawServer {
            addr: addr_rx.recv().expect("server address"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve_raw(tcp: TcpStream, blast: Arc<Vec<Message>>) {
    let Ok(mut ws) = async_tungstenite::accept_async(tcp).await else {
        return;
    };
    let descriptor = Message::text(format!(
        "{}\n",
        json!({"type": "descriptor", "descriptor": default_descriptor("discord")})
    ));
    let mut partial = String::new();
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue; // pings are answered by tungstenite, closes end the stream
        };
        let mut replies = Vec::new();
        let mut push = false;
        for_each_line(&mut partial, text.as_str(), |line| {
            let Ok(frame) = serde_json::from_str::<Value>(line) else {
                return;
            };
            match frame["type"].as_str() {
                Some("hello") => replies.push(descriptor.clone()),
                Some("outbound") => replies.push(Message::text(format!(
                    "{}\n",
                    json!({
                        "type": "outbound_result",
                        "requestId": frame["requestId"],
                        "result": {"success": true, "message_id": "1200000000000000001"},
                    })
                ))),
                Some("interrupt") if frame["session_key"] == "blast" => push = true,
                _ => {}
            }
        });
        for reply in replies {
            if ws.feed(reply).await.is_err() {
                return;
            }
        }
        if push {
            for message in blast.iter() {
                if ws.feed(message.clone()).await.is_err() {
                    return;
                }
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// `n` realistic `inbound` frames (live, no `bufferId`), one per message.
pub fn inbound_messages(n: usize) -> Vec<Message> {
    const TEXTS: [&str; 6] = [
        "hey, is the deploy still running?",
        "Can you summarise the thread above? I missed the standup this morning and need the gist before the 2pm sync.",
        "lgtm 👍",
        "Prüfen Sie bitte die Rechnung für März — der Betrag stimmt nicht.",
        "/ask what is the retention policy for audit logs in the EU region and who signs off on exceptions?",
        "ok",
    ];
    const USERS: [&str; 4] = ["alice", "Bob Martin", "carol_dev", "エミ"];
    (0..n)
        .map(|i| {
            let frame = json!({
                "type": "inbound",
                "event": {
                    "text": TEXTS[i % TEXTS.len()],
                    "message_type": "text",
                    "message_id": format!("{}", 1_100_000_000_000_000_000u64 + i as u64),
                    "source": {
                        "platform": "discord",
                        "chat_id": "987654321098765432",
                        "chat_type": if i % 3 == 0 { "dm" } else { "group" },
                        "user_id": format!("{}", 300_000_000_000_000_000u64 + (i % 1000) as u64),
                        "user_name": USERS[i % USERS.len()],
                        "thread_id": null,
                        "scope_id": "guild:112233445566778899",
                    },
                    "media_urls": [],
                    "timestamp": "2024-05-17T09:21:44.512Z",
                },
            });
            Message::text(format!("{frame}\n"))
        })
        .collect()
}
