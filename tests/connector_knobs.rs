//! The chaos knobs of the loopback test connector (binary messages, late
//! and duplicate results), seen by a raw async-tungstenite client on
//! 127.0.0.1.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::{mint_token, Secret};
use serde_json::{json, Value};
use smol::net::TcpStream;
use smol::stream::StreamExt as _;

const GW: &str = "gw-1";
const SECRET: &str = "knob-s3cret";
/// The longest any single expectation waits.
const WAIT: Duration = Duration::from_secs(3);

type Ws = WebSocketStream<TcpStream>;

async fn connector() -> Connector {
    let connector = Connector::start(ConnectorOptions::default())
        .await
        .expect("the connector binds 127.0.0.1");
    connector.add_gateway(GW, Secret::new(SECRET));
    connector
}

/// Dials with a valid token.
async fn dial(connector: &Connector) -> Ws {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs() as i64;
    let token = mint_token(GW, &Secret::new(SECRET), now, 300).bearer_header_value();
    let mut request = format!("{}/relay", connector.url())
        .into_client_request()
        .expect("a valid url");
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&token).expect("a header value"),
    );
    let tcp = TcpStream::connect(connector.local_addr())
        .await
        .expect("connects");
    async_tungstenite::client_async(request, tcp)
        .await
        .expect("upgraded")
        .0
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(format!("{frame}\n")))
        .await
        .expect("sent");
}

/// The next data message within [`WAIT`] (pings and pongs skipped).
async fn next_message(ws: &mut Ws) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = smol::future::or(async { ws.next().await }, async {
            smol::Timer::after(left).await;
            None
        })
        .await;
        match next {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(message)) => return message,
            other => panic!("no message within {WAIT:?}: {other:?}"),
        }
    }
}

/// The JSON frame in a text message.
fn frame_of(message: &Message) -> Value {
    let Message::Text(text) = message else {
        panic!("not a text message: {message:?}");
    };
    serde_json::from_str(text.as_str().trim_end()).expect("one JSON line")
}

/// Dials and completes the handshake.
async fn handshaken(connector: &Connector) -> Ws {
    let mut ws = dial(connector).await;
    send(
        &mut ws,
        json!({"type": "hello", "platform": "discord", "botId": "b1"}),
    )
    .await;
    let descriptor = frame_of(&next_message(&mut ws).await);
    assert_eq!(descriptor["type"], "descriptor");
    ws
}

fn outbound(id: &str) -> Value {
    json!({"type": "outbound", "requestId": id, "action": {"op": "send", "text": id}})
}

#[test]
fn binary_frames_sends_every_message_as_utf8_bytes() {
    smol::block_on(async {
        let connector = connector().await;
        connector.binary_frames(GW, true);
        let mut ws = dial(&connector).await;
        send(
            &mut ws,
            json!({"type": "hello", "platform": "discord", "botId": "b1"}),
        )
        .await;
        let Message::Binary(bytes) = next_message(&mut ws).await else {
            panic!("the descriptor was not a binary message");
        };
        let text = std::str::from_utf8(&bytes).expect("UTF-8 bytes");
        let descriptor: Value = serde_json::from_str(text.trim_end()).expect("one JSON line");
        assert_eq!(descriptor["type"], "descriptor");

        connector.binary_frames(GW, false);
        send(&mut ws, outbound("r1")).await;
        assert_eq!(frame_of(&next_message(&mut ws).await)["requestId"], "r1");
    });
}

#[test]
fn send_binary_sends_the_bytes_verbatim_even_when_not_utf8() {
    smol::block_on(async {
        let connector = connector().await;
        let mut ws = handshaken(&connector).await;
        let bytes = [b'{', 0xff, 0xfe, b'}', b'\n'];
        assert_eq!(connector.send_binary(GW, &bytes), 1);
        match next_message(&mut ws).await {
            Message::Binary(got) => assert_eq!(&got[..], &bytes[..]),
            other => panic!("expected a binary message, got {other:?}"),
        }
    });
}

#[test]
fn delay_results_holds_each_result_back_and_keeps_serving_meanwhile() {
    smol::block_on(async {
        let connector = connector().await;
        let mut ws = handshaken(&connector).await;
        let delay = Duration::from_millis(300);
        connector.delay_results(GW, Some(delay));
        let sent = Instant::now();
        send(&mut ws, outbound("late")).await;
        // The connection still serves while the result waits: a hello is
        // answered first.
        send(
            &mut ws,
            json!({"type": "hello", "platform": "slack", "botId": "B2"}),
        )
        .await;
        assert_eq!(frame_of(&next_message(&mut ws).await)["type"], "descriptor");
        let result = frame_of(&next_message(&mut ws).await);
        assert_eq!(result["requestId"], "late");
        assert!(sent.elapsed() >= delay, "the result came early");

        connector.delay_results(GW, None);
        send(&mut ws, outbound("prompt")).await;
        assert_eq!(
            frame_of(&next_message(&mut ws).await)["requestId"],
            "prompt"
        );
    });
}

#[test]
fn duplicate_results_answers_each_outbound_twice() {
    smol::block_on(async {
        let connector = connector().await;
        let mut ws = handshaken(&connector).await;
        connector.duplicate_results(GW, true);
        send(&mut ws, outbound("twice")).await;
        let first = frame_of(&next_message(&mut ws).await);
        let second = frame_of(&next_message(&mut ws).await);
        assert_eq!(first["requestId"], "twice");
        assert_eq!(first, second);

        connector.duplicate_results(GW, false);
        send(&mut ws, outbound("once")).await;
        send(&mut ws, outbound("next")).await;
        assert_eq!(frame_of(&next_message(&mut ws).await)["requestId"], "once");
        assert_eq!(frame_of(&next_message(&mut ws).await)["requestId"], "next");
    });
}
