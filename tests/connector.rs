//! The loopback test connector (`relay_link::testing::Connector`), driven by
//! a raw async-tungstenite client over real sockets on 127.0.0.1.
#![cfg(feature = "testing")]

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use relay_link::protocol::Descriptor;
use relay_link::testing::{Connector, ConnectorOptions, Delivery, DialOutcome, Seen, ANONYMOUS};
use relay_link::token::{mint_token, Secret};
use serde_json::{json, Value};
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use smol::stream::StreamExt as _;
use smol::Timer;

/// The longest any single expectation waits.
const WAIT: Duration = Duration::from_secs(3);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

const GW: &str = "gw-1";
const SECRET: &str = "s3cret-value";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Authorization` value for a token minted now (`ttl` 300 s).
fn bearer(gateway: &str, secret: &str) -> String {
    mint_token(gateway, &Secret::new(secret), unix_now(), 300).bearer_header_value()
}

/// Runs `f`, giving up after `limit`.
async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(f.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

/// A connector that knows `GW` with `SECRET`.
async fn connector() -> Connector {
    let connector = Connector::start(ConnectorOptions::default()).await.unwrap();
    connector.add_gateway(GW, Secret::new(SECRET));
    connector
}

/// A raw client: a WebSocket plus a line buffer.
struct Client<S> {
    ws: WebSocketStream<S>,
    buf: String,
}

type PlainClient = Client<TcpStream>;

/// Dials `connector` at `path`, with `authorization` as the header value.
async fn dial_path(
    connector: &Connector,
    path: &str,
    authorization: Option<&str>,
) -> Result<PlainClient, WsError> {
    let mut request = format!("{}{path}", connector.url())
        .into_client_request()
        .unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("Authorization", HeaderValue::from_str(value).unwrap());
    }
    let tcp = TcpStream::connect(connector.local_addr()).await.unwrap();
    let (ws, _response) = within(WAIT, async_tungstenite::client_async(request, tcp))
        .await
        .expect("the upgrade exchange finishes")?;
    Ok(Client {
        ws,
        buf: String::new(),
    })
}

/// Dials `/relay` with a fresh valid token of `GW`.
async fn dial(connector: &Connector) -> PlainClient {
    dial_path(connector, "/relay", Some(&bearer(GW, SECRET)))
        .await
        .expect("upgraded")
}

/// Dials, says hello for discord and waits for its descriptor.
async fn handshaken(connector: &Connector) -> PlainClient {
    let mut client = dial(connector).await;
    client.hello("discord", "bot-1").await;
    let descriptor = client.next_frame().await.expect("a descriptor");
    assert_eq!(descriptor["type"], "descriptor");
    client
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, frame: Value) {
        let line = format!("{frame}\n");
        self.ws.send(Message::text(line)).await.unwrap();
    }

    async fn hello(&mut self, platform: &str, bot_id: &str) {
        self.send(json!({"type": "hello", "platform": platform, "botId": bot_id}))
            .await;
    }

    /// The next WebSocket message within `limit`; `None` on timeout, and
    /// `Some(None)` when the stream ended.
    async fn message_within(
        &mut self,
        limit: Duration,
    ) -> Option<Option<Result<Message, WsError>>> {
        within(limit, self.ws.next()).await
    }

    /// The next complete line (without `'\n'`), or `None` when the stream
    /// ended, closed or `WAIT` passed.
    async fn next_line_within(&mut self, limit: Duration) -> Option<String> {
        loop {
            if let Some(end) = self.buf.find('\n') {
                let line: String = self.buf.drain(..=end).collect();
                return Some(line.trim_end_matches('\n').to_owned());
            }
            match self.message_within(limit).await?? {
                Ok(Message::Text(text)) => self.buf.push_str(text.as_str()),
                Ok(Message::Binary(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(_) | Err(_) => return None,
            }
        }
    }

    /// The next frame (blank lines skipped), or `None`.
    async fn next_frame_within(&mut self, limit: Duration) -> Option<Value> {
        loop {
            let line = self.next_line_within(limit).await?;
            if !line.trim().is_empty() {
                return Some(serde_json::from_str(&line).expect("the connector sends JSON"));
            }
        }
    }

    async fn next_frame(&mut self) -> Option<Value> {
        self.next_frame_within(WAIT).await
    }

    /// Asserts that no frame arrives for `QUIET`.
    async fn expect_no_frame(&mut self) {
        if let Some(frame) = self.next_frame_within(QUIET).await {
            panic!("unexpected frame {frame}");
        }
    }

    /// Reads until a close frame; its code and reason.
    async fn expect_close(&mut self) -> (u16, String) {
        loop {
            match self.message_within(WAIT).await {
                None => panic!("no close frame within {WAIT:?}"),
                Some(Some(Ok(Message::Close(Some(frame))))) => {
                    return (u16::from(frame.code), frame.reason.as_str().to_owned())
                }
                Some(Some(Ok(Message::Close(None)))) => panic!("a close frame without code"),
                Some(Some(Ok(_))) => {}
                Some(other) => panic!("the stream ended without a close frame: {other:?}"),
            }
        }
    }

    /// Reads until the stream ends; panics on a close frame.
    async fn expect_abrupt_end(&mut self) {
        loop {
            match self.message_within(WAIT).await {
                None => panic!("the socket stayed open"),
                Some(None | Some(Err(_))) => return,
                Some(Some(Ok(Message::Close(frame)))) => panic!("a close frame: {frame:?}"),
                Some(Some(Ok(_))) => {}
            }
        }
    }
}

async fn wait(connector: &Connector, pred: impl Fn(&Seen) -> bool) {
    assert!(
        connector.wait_until(WAIT, pred).await,
        "condition not met; seen: {:#?}",
        connector.seen()
    );
}

fn ok_status(result: Result<PlainClient, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("not an HTTP rejection: {other}"),
        Ok(_) => panic!("upgraded"),
    }
}

#[test]
fn a_valid_token_gets_one_descriptor_per_hello() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = dial(&connector).await;
        client.hello("discord", "bot-1").await;
        client.hello("slack", "bot-2").await;
        for platform in ["discord", "slack"] {
            let frame = client.next_frame().await.expect("a descriptor");
            assert_eq!(frame["type"], "descriptor");
            let descriptor = Descriptor::from_value(&frame["descriptor"]).unwrap();
            assert_eq!(descriptor.to_value()["platform"], platform);
        }
        client.expect_no_frame().await;

        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 1);
        let dial = &seen.dials[0];
        assert_eq!(dial.gateway_id.as_deref(), Some(GW));
        assert!(dial.auth_header_present && dial.authorized);
        assert!(dial.token_exp.unwrap() >= unix_now() + 298);
        assert_eq!(dial.path, "/relay");
        assert_eq!(dial.outcome, DialOutcome::Accepted);
        assert_eq!(seen.frames_of("hello").count(), 2);
        assert_eq!(seen.open_connections(GW), 1);
    });
}

#[test]
fn a_bad_signature_is_accepted_then_closed_with_4401_unauthorized() {
    smol::block_on(async {
        let connector = connector().await;
        for header in [bearer(GW, "wrong-secret"), bearer("gw-unknown", SECRET)] {
            let mut client = dial_path(&connector, "/relay", Some(&header))
                .await
                .expect("the upgrade is accepted");
            // Hellos written before the close was read do not hide it.
            client.hello("discord", "bot-1").await;
            assert_eq!(client.expect_close().await, (4401, "unauthorized".into()));
        }
        let seen = connector.seen();
        assert!(seen.dials.iter().all(|d| !d.authorized
            && d.outcome
                == DialOutcome::Refused {
                    code: 4401,
                    reason: "unauthorized".into()
                }));
        assert_eq!(seen.frames_of("descriptor").count(), 0);
    });
}

#[test]
fn a_garbled_token_is_closed_with_4401_unauthorized() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = dial_path(&connector, "/relay", Some("Bearer not-a-token"))
            .await
            .unwrap();
        assert_eq!(client.expect_close().await, (4401, "unauthorized".into()));
        let dial = &connector.seen().dials[0];
        assert!(dial.auth_header_present && !dial.authorized);
        assert_eq!(dial.gateway_id, None);
    });
}

#[test]
fn an_aged_token_is_closed_with_4401_expired() {
    smol::block_on(async {
        let connector = connector().await;
        let aged = mint_token(GW, &Secret::new(SECRET), unix_now() - 1000, 300);
        let mut client = dial_path(&connector, "/relay", Some(&aged.bearer_header_value()))
            .await
            .unwrap();
        assert_eq!(client.expect_close().await, (4401, "expired".into()));
        let dial = &connector.seen().dials[0];
        assert_eq!(dial.token_exp, Some(aged.expires_at()));
        assert!(!dial.authorized);

        // exp = 0 never expires.
        let never = mint_token(GW, &Secret::new(SECRET), unix_now() - 1000, 0);
        let mut client = dial_path(&connector, "/relay", Some(&never.bearer_header_value()))
            .await
            .unwrap();
        client.hello("discord", "bot-1").await;
        assert_eq!(client.next_frame().await.unwrap()["type"], "descriptor");
    });
}

#[test]
fn an_upgrade_without_a_token_is_refused_unless_anonymous_upgrades_are_allowed() {
    smol::block_on(async {
        let connector = connector().await;
        let mut refused = dial_path(&connector, "/relay", None).await.unwrap();
        assert_eq!(refused.expect_close().await, (4401, "unauthorized".into()));
        drop(refused);
        wait(&connector, |seen| seen.open_connections(ANONYMOUS) == 0).await;

        connector.allow_anonymous(true);
        let mut client = dial_path(&connector, "/relay", None).await.unwrap();
        client.hello("telegram", "bot-9").await;
        let frame = client.next_frame().await.unwrap();
        assert_eq!(frame["descriptor"]["platform"], "telegram");
        let seen = connector.seen();
        assert!(!seen.dials[1].auth_header_present && seen.dials[1].authorized);
        assert_eq!(seen.open_connections(ANONYMOUS), 1);
    });
}

#[test]
fn revoke_closes_the_open_connection_with_4401_and_refuses_every_later_dial() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        connector.revoke(GW);
        assert_eq!(client.expect_close().await, (4401, "unauthorized".into()));
        for _ in 0..2 {
            let mut client = dial(&connector).await;
            assert_eq!(client.expect_close().await, (4401, "unauthorized".into()));
        }
        connector.reinstate(GW);
        handshaken(&connector).await;
        let outcomes: Vec<DialOutcome> = connector
            .seen()
            .dials
            .into_iter()
            .map(|d| d.outcome)
            .collect();
        assert_eq!(outcomes[0], DialOutcome::Accepted);
        assert!(matches!(
            &outcomes[1],
            DialOutcome::Refused { code: 4401, .. }
        ));
        assert_eq!(outcomes[3], DialOutcome::Accepted);
    });
}

#[test]
fn expire_token_closes_the_open_connection_with_4401_expired_and_the_next_dial_is_served() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        connector.expire_token(GW);
        // A push racing the close is buffered, not lost on the closing socket.
        let pushed = connector.push_inbound(GW, json!({"text": "racing"}));
        let Delivery::Buffered { buffer_id } = pushed else {
            panic!("buffered: {pushed:?}");
        };
        assert_eq!(client.expect_close().await, (4401, "expired".into()));
        let mut client = handshaken(&connector).await;
        assert_eq!(
            client.next_frame().await.unwrap()["bufferId"],
            buffer_id.as_str()
        );
    });
}

#[test]
fn expire_token_without_an_open_connection_expires_only_the_next_dial() {
    smol::block_on(async {
        let connector = connector().await;
        connector.expire_token(GW);
        let mut client = dial(&connector).await;
        assert_eq!(client.expect_close().await, (4401, "expired".into()));
        handshaken(&connector).await;
    });
}

#[test]
fn refuse_next_accepts_then_closes_the_next_n_upgrades_with_the_given_code() {
    smol::block_on(async {
        let connector = connector().await;
        connector.refuse_next(GW, 2, 1011, "try later");
        for _ in 0..2 {
            let mut client = dial(&connector).await;
            assert_eq!(client.expect_close().await, (1011, "try later".into()));
        }
        handshaken(&connector).await;
        connector.refuse_next(GW, 1, 4401, "unauthorized");
        let mut client = dial(&connector).await;
        assert_eq!(client.expect_close().await, (4401, "unauthorized".into()));
        let dial = connector.seen().dials[3].clone();
        assert!(dial.authorized, "a scripted refusal follows a valid token");
    });
}

#[test]
fn reject_http_refuses_the_next_upgrades_at_the_http_level() {
    smol::block_on(async {
        let connector = connector().await;
        connector.reject_http(GW, 2, 503);
        for _ in 0..2 {
            let refused = dial_path(&connector, "/relay", Some(&bearer(GW, SECRET))).await;
            assert_eq!(ok_status(refused), 503);
        }
        handshaken(&connector).await;
        let seen = connector.seen();
        assert_eq!(
            seen.dials[0].outcome,
            DialOutcome::HttpRejected { status: 503 }
        );
        assert_eq!(seen.dials[0].connection, None);
        assert_eq!(seen.dials[2].outcome, DialOutcome::Accepted);
    });
}

#[test]
fn a_path_other_than_relay_is_http_404() {
    smol::block_on(async {
        let connector = connector().await;
        for path in ["/", "/relay/", "/other"] {
            let refused = dial_path(&connector, path, Some(&bearer(GW, SECRET))).await;
            assert_eq!(ok_status(refused), 404, "{path}");
        }
        // A query string is not part of the path.
        let mut client = dial_path(&connector, "/relay?v=1", Some(&bearer(GW, SECRET)))
            .await
            .unwrap();
        client.hello("discord", "bot-1").await;
        assert!(client.next_frame().await.is_some());
    });
}

#[test]
fn an_outbound_is_answered_with_the_same_request_id() {
    smol::block_on(async {
        let connector = connector().await;
        connector.set_result("edit", Some(json!({"success": false, "error": "too old"})));
        let mut client = handshaken(&connector).await;
        let action = json!({"op": "send", "chat_id": "c1", "text": "hi"});
        client
            .send(json!({"type": "outbound", "requestId": "0123456789abcdef0123456789abcdef", "action": action}))
            .await;
        let result = client.next_frame().await.unwrap();
        assert_eq!(result["type"], "outbound_result");
        assert_eq!(result["requestId"], "0123456789abcdef0123456789abcdef");
        assert_eq!(result["result"], json!({"success": true, "echo": action}));

        client
            .send(json!({"type": "outbound", "requestId": "r2", "action": {"op": "edit"}}))
            .await;
        let result = client.next_frame().await.unwrap();
        assert_eq!(result["requestId"], "r2");
        assert_eq!(
            result["result"],
            json!({"success": false, "error": "too old"})
        );
        assert_eq!(connector.seen().frames_of("outbound").count(), 2);
    });
}

#[test]
fn set_result_none_leaves_an_outbound_unanswered() {
    smol::block_on(async {
        let connector = connector().await;
        connector.set_result("typing", None);
        let mut client = handshaken(&connector).await;
        client
            .send(json!({"type": "outbound", "requestId": "r1", "action": {"op": "typing"}}))
            .await;
        client.expect_no_frame().await;
        client
            .send(json!({"type": "outbound", "requestId": "r2", "action": {"op": "send"}}))
            .await;
        assert_eq!(client.next_frame().await.unwrap()["requestId"], "r2");
    });
}

#[test]
fn going_idle_is_acked_and_later_pushes_are_buffered_until_the_next_connection() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        let live = connector.push_inbound(GW, json!({"text": "live", "message_id": "m1"}));
        assert!(matches!(live, Delivery::Live { .. }));
        let frame = client.next_frame().await.unwrap();
        assert_eq!(frame["type"], "inbound");
        assert_eq!(frame["event"]["text"], "live");
        assert!(frame.get("bufferId").is_none());

        client.send(json!({"type": "going_idle"})).await;
        assert_eq!(client.next_frame().await.unwrap()["type"], "going_idle_ack");
        let Delivery::Buffered { buffer_id } =
            connector.push_inbound(GW, json!({"text": "while idle", "message_id": "m2"}))
        else {
            panic!("an idle gateway's push is buffered");
        };
        client.expect_no_frame().await;
        client.ws.close(None).await.unwrap();
        wait(&connector, |seen| seen.open_connections(GW) == 0).await;

        let mut client = handshaken(&connector).await;
        let frame = client.next_frame().await.unwrap();
        assert_eq!(frame["event"]["text"], "while idle");
        assert_eq!(frame["bufferId"], buffer_id.as_str());
        // No longer idle: live again.
        assert!(matches!(
            connector.push_inbound(GW, json!({"text": "m3"})),
            Delivery::Live { .. }
        ));
    });
}

#[test]
fn buffered_deliveries_are_replayed_with_their_buffer_id_until_acked() {
    smol::block_on(async {
        let connector = connector().await;
        let Delivery::Buffered {
            buffer_id: inbound_id,
        } = connector.push_inbound(GW, json!({"text": "hello", "message_id": "m1"}))
        else {
            panic!("buffered: nothing is connected");
        };
        let forward = json!({"platform": "slack", "botId": "b", "method": "POST", "path": "/events", "headers": [["x", "y"]], "bodyB64": "e30"});
        let Delivery::Buffered {
            buffer_id: forward_id,
        } = connector.push_passthrough(GW, forward.clone())
        else {
            panic!("buffered");
        };
        assert_ne!(inbound_id, forward_id);

        // First connection: both replayed after the descriptor; ack one.
        let mut client = handshaken(&connector).await;
        let inbound = client.next_frame().await.unwrap();
        assert_eq!(
            (inbound["type"].as_str(), inbound["bufferId"].as_str()),
            (Some("inbound"), Some(inbound_id.as_str()))
        );
        let passthrough = client.next_frame().await.unwrap();
        assert_eq!(passthrough["type"], "passthrough_forward");
        assert_eq!(passthrough["bufferId"], forward_id.as_str());
        assert_eq!(passthrough["forward"], forward);
        client
            .send(json!({"type": "inbound_ack", "bufferId": inbound_id}))
            .await;
        wait(&connector, |seen| seen.acks == [inbound_id.clone()]).await;
        assert_eq!(connector.buffered(GW), vec![forward_id.clone()]);
        client.ws.close(None).await.unwrap();

        // Second connection: only the unacked one comes back.
        let mut client = handshaken(&connector).await;
        let again = client.next_frame().await.unwrap();
        assert_eq!(again["bufferId"], forward_id.as_str());
        client.expect_no_frame().await;
        client
            .send(json!({"type": "inbound_ack", "bufferId": forward_id}))
            .await;
        wait(&connector, |seen| seen.acks.len() == 2).await;
        assert!(connector.buffered(GW).is_empty());
        client.ws.close(None).await.unwrap();

        // Third connection: nothing left to replay.
        let mut client = handshaken(&connector).await;
        client.expect_no_frame().await;
    });
}

#[test]
fn split_frames_spreads_each_frame_over_several_messages() {
    smol::block_on(async {
        let connector = connector().await;
        connector.split_frames(GW, true);
        let mut client = dial(&connector).await;
        client.hello("discord", "bot-1").await;
        let mut messages: Vec<String> = Vec::new();
        while !messages.concat().contains('\n') {
            match client.message_within(WAIT).await {
                Some(Some(Ok(Message::Text(text)))) => messages.push(text.as_str().to_owned()),
                other => panic!("expected a text message, got {other:?}"),
            }
        }
        assert!(messages.len() >= 2, "{messages:?}");
        assert!(!messages[0].ends_with('\n'));
        let frame: Value = serde_json::from_str(messages.concat().trim_end()).unwrap();
        assert_eq!(frame["type"], "descriptor");
    });
}

#[test]
fn merge_frames_batches_several_frames_into_one_message() {
    smol::block_on(async {
        // A window far longer than any scheduling delay: a lone frame waits
        // for company for 2 s, so frames produced back to back always meet.
        // (A batch of two goes out as soon as nothing else is ready, so
        // whether a third frame pushed from this thread joins it depends on
        // scheduling: only "more than one per message" is certain.)
        let connector = Connector::start(ConnectorOptions {
            merge_window: Duration::from_secs(2),
            ..ConnectorOptions::default()
        })
        .await
        .unwrap();
        connector.add_gateway(GW, Secret::new(SECRET));
        connector.merge_frames(GW, true);
        let mut client = dial(&connector).await;
        client.hello("discord", "bot-1").await;
        client.hello("slack", "bot-2").await;
        let Some(Some(Ok(Message::Text(text)))) = client.message_within(WAIT).await else {
            panic!("a text message");
        };
        let lines: Vec<Value> = text
            .as_str()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["descriptor"]["platform"], "discord");
        assert_eq!(lines[1]["descriptor"]["platform"], "slack");
        assert!(text.as_str().ends_with('\n'));

        for n in 0..3 {
            connector.push_inbound(GW, json!({"text": n}));
        }
        let mut messages = Vec::new();
        let mut texts = Vec::new();
        while texts.len() < 3 {
            let Some(Some(Ok(Message::Text(text)))) = client.message_within(WAIT).await else {
                panic!("a text message after {messages:?}");
            };
            for line in text.as_str().lines() {
                let frame: Value = serde_json::from_str(line).unwrap();
                texts.push(frame["event"]["text"].clone());
            }
            assert!(text.as_str().ends_with('\n'), "{text}");
            messages.push(text.as_str().to_owned());
        }
        assert_eq!(texts, [json!(0), json!(1), json!(2)], "{messages:?}");
        assert!(
            messages[0].lines().count() >= 2,
            "the first two frames share a message: {messages:?}"
        );
    });
}

#[test]
fn send_garbage_sends_lines_that_are_not_valid_frames() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        connector.send_garbage(GW);
        let mut lines = Vec::new();
        while let Some(line) = client.next_line_within(QUIET).await {
            lines.push(line);
        }
        assert!(lines.contains(&"this is not json".to_owned()), "{lines:?}");
        assert!(lines.contains(&"[1,2,3]".to_owned()));
        assert!(lines.contains(&String::new()), "a blank line");
        let unparsable = lines
            .iter()
            .filter(|l| !matches!(serde_json::from_str::<Value>(l), Ok(Value::Object(_))))
            .count();
        assert!(unparsable >= 6, "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("from_the_future")));
        // The connection is still served.
        client
            .send(json!({"type": "outbound", "requestId": "r", "action": {"op": "send"}}))
            .await;
        assert_eq!(client.next_frame().await.unwrap()["requestId"], "r");
    });
}

#[test]
fn send_oversized_partial_sends_a_partial_line_without_a_newline() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        let size = 3 * 1024 * 1024 + 5;
        connector.send_oversized_partial(GW, size);
        let mut received = 0;
        while received < size {
            match client.message_within(WAIT).await {
                Some(Some(Ok(Message::Text(text)))) => {
                    assert!(text.len() <= 1024 * 1024);
                    assert!(!text.as_str().contains('\n'));
                    received += text.len();
                }
                other => panic!("expected a text message, got {other:?}"),
            }
        }
        assert_eq!(received, size);
        assert!(client.message_within(QUIET).await.is_none(), "nothing more");
    });
}

#[test]
fn drop_connections_ends_the_socket_without_a_close_frame() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        connector.drop_connections(GW);
        client.expect_abrupt_end().await;
        wait(&connector, |seen| seen.open_connections(GW) == 0).await;
        assert!(connector.seen().closes.is_empty());
    });
}

#[test]
fn a_stalled_connector_answers_neither_pings_nor_frames_until_resumed() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        connector.stall(GW, true);
        client
            .ws
            .send(Message::Ping(Bytes::from_static(b"hb")))
            .await
            .unwrap();
        client.hello("slack", "bot-2").await;
        assert!(
            client.message_within(QUIET).await.is_none(),
            "no pong, no descriptor"
        );
        assert!(matches!(
            connector.push_inbound(GW, json!({"text": "held"})),
            Delivery::Buffered { .. }
        ));
        assert_eq!(connector.seen().pings, 0);

        connector.stall(GW, false);
        let mut pong = false;
        let mut descriptor = false;
        while !(pong && descriptor) {
            match client.message_within(WAIT).await {
                Some(Some(Ok(Message::Pong(data)))) => pong = data.as_ref() == b"hb",
                Some(Some(Ok(Message::Text(text)))) => {
                    descriptor |= text.as_str().contains("\"descriptor\"");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(connector.seen().pings, 1);
    });
}

#[test]
fn the_gateway_close_frames_are_recorded_with_code_and_reason() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        client
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await
            .unwrap();
        wait(&connector, |seen| !seen.closes.is_empty()).await;
        let close = connector.seen().closes[0].clone();
        assert_eq!(
            (close.gateway.as_str(), close.code, close.reason.as_str()),
            (GW, Some(1000), "bye")
        );
        assert!(!close.in_reply);

        // The answer to a connector's close is marked as a reply.
        let mut client = dial_path(&connector, "/relay", Some(&bearer(GW, "bad")))
            .await
            .unwrap();
        assert_eq!(client.expect_close().await.0, 4401);
        // Reading on lets the automatic reply go out.
        let _ = within(WAIT, client.ws.next()).await;
        wait(&connector, |seen| seen.closes.len() == 2).await;
        let reply = connector.seen().closes[1].clone();
        assert!(reply.in_reply);
        assert_eq!(reply.code, Some(4401));
    });
}

#[test]
fn close_with_closes_the_open_connections_with_the_given_code() {
    smol::block_on(async {
        let connector = connector().await;
        let mut first = handshaken(&connector).await;
        let mut second = handshaken(&connector).await;
        connector.close_with(GW, 1012, "service restart");
        assert_eq!(first.expect_close().await, (1012, "service restart".into()));
        assert_eq!(
            second.expect_close().await,
            (1012, "service restart".into())
        );
        wait(&connector, |seen| seen.open_connections(GW) == 0).await;
    });
}

#[test]
fn send_frame_and_send_raw_reach_open_connections() {
    smol::block_on(async {
        let connector = connector().await;
        let mut client = handshaken(&connector).await;
        let sent = connector.send_frame(
            GW,
            json!({"type": "interrupt_inbound", "session_key": "s", "chat_id": "c"}),
        );
        assert_eq!(sent, 1);
        assert_eq!(
            client.next_frame().await.unwrap()["type"],
            "interrupt_inbound"
        );
        assert_eq!(connector.send_raw(GW, "{\"type\":\"going_idle_ack\"}\n"), 1);
        assert_eq!(client.next_frame().await.unwrap()["type"], "going_idle_ack");
        assert_eq!(connector.send_frame("gw-nobody", json!({})), 0);
    });
}

#[test]
fn shutdown_drops_open_sockets_and_stops_listening() {
    smol::block_on(async {
        let connector = connector().await;
        let addr = connector.local_addr();
        let mut client = handshaken(&connector).await;
        connector.shutdown();
        client.expect_abrupt_end().await;
        let refused = within(WAIT, async {
            while TcpStream::connect(addr).await.is_ok() {
                Timer::after(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(refused.is_some(), "the listener closed");
        assert_eq!(connector.seen().open_connections(GW), 0);
    });
}

#[test]
fn dropping_every_handle_shuts_the_connector_down() {
    smol::block_on(async {
        let connector = connector().await;
        let addr = connector.local_addr();
        let clone = connector.clone();
        drop(connector);
        // One handle left: still serving.
        let client = handshaken(&clone).await;
        drop(clone);
        let mut client = client;
        client.expect_abrupt_end().await;
        let refused = within(WAIT, async {
            while TcpStream::connect(addr).await.is_ok() {
                Timer::after(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(refused.is_some(), "the listener closed");
    });
}

#[test]
fn nothing_recorded_or_printed_shows_the_token_or_the_secret() {
    smol::block_on(async {
        let connector = connector().await;
        let header = bearer(GW, SECRET);
        let token = header.trim_start_matches("Bearer ");
        let mut client = dial_path(&connector, "/relay", Some(&header))
            .await
            .unwrap();
        client.hello("discord", "bot-1").await;
        client.next_frame().await.unwrap();
        let mut bad = dial_path(&connector, "/relay", Some(&bearer(GW, "other-secret")))
            .await
            .unwrap();
        bad.expect_close().await;
        let printed = format!("{:?} {:?}", connector.seen(), connector);
        assert!(!printed.contains(token));
        assert!(!printed.contains(SECRET));
        assert!(!printed.contains("other-secret"));
    });
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_connector_serves_wss_with_a_self_signed_localhost_certificate() {
    use std::sync::Arc;

    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

    smol::block_on(async {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let connector = Connector::start(ConnectorOptions {
            tls: Some(Arc::new(server)),
            ..ConnectorOptions::default()
        })
        .await
        .unwrap();
        connector.add_gateway(GW, Secret::new(SECRET));
        let port = connector.local_addr().port();
        assert_eq!(connector.url(), format!("wss://localhost:{port}"));

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(connector.local_addr()).await.unwrap();
        let tls = futures_rustls::TlsConnector::from(Arc::new(client_config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut request = format!("{}/relay", connector.url())
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&bearer(GW, SECRET)).unwrap(),
        );
        let (ws, _) = within(WAIT, async_tungstenite::client_async(request, tls))
            .await
            .unwrap()
            .unwrap();
        let mut client = Client {
            ws,
            buf: String::new(),
        };
        client.hello("discord", "bot-1").await;
        assert_eq!(client.next_frame().await.unwrap()["type"], "descriptor");

        // A plain-text dial to the TLS port fails and is recorded as such.
        assert!(dial_path(&connector, "/relay", Some(&bearer(GW, SECRET)))
            .await
            .is_err());
        wait(&connector, |seen| {
            seen.dials.iter().any(|d| d.outcome == DialOutcome::Failed)
        })
        .await;
    });
}

#[test]
fn the_connector_handle_is_cheap_to_share_across_threads() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send_sync_clone::<Connector>();
    send_sync_clone::<ConnectorOptions>();
}
