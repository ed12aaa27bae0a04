//! Outbound requests over real sockets (relay contract §5 "Requests"):
//! every request is settled exactly once, with the connector's result or
//! one of the contract's `success: false` objects, and never hangs.

mod loopback;

use std::time::{Duration, Instant};

use loopback::*;
use relay_link::shell::Event;
use relay_link::LinkState as S;
use relay_link::RequestError;
use serde_json::{json, Value};

#[test]
fn a_send_settles_with_the_connectors_result() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c).await;
        let pending = link.request(action("send", json!({"text": "hi"})), Some("slack"));
        let id = pending.id().to_string();
        let result = deadline(WAIT, "the result", pending.settled()).await;
        assert_eq!(
            result,
            answered(json!({"success": true, "echo": {"op": "send", "text": "hi"}}))
        );
        let seen = connector.seen();
        let outbound: Vec<_> = seen.frames_of("outbound").collect();
        assert_eq!(outbound.len(), 1);
        let frame = &outbound[0].frame;
        assert_eq!(frame["requestId"], json!(id));
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(frame["platform"], "slack");
        assert_eq!(frame["botId"], "B2", "botId of the hello'd slack identity");
        assert_eq!(frame["action"], json!({"op": "send", "text": "hi"}));

        // A platform that was not hello'd carries no botId.
        connector.set_result("react", Some(json!({"success": true, "reacted": 1})));
        let result = link
            .send(action("react", json!({"emoji": "🔌"})), Some("matrix"))
            .await;
        assert_eq!(result, answered(json!({"success": true, "reacted": 1})));
        let seen = connector.seen();
        let frame = &seen.frames_of("outbound").nth(1).unwrap().frame;
        assert_eq!(frame["platform"], "matrix");
        assert!(frame.get("botId").is_none(), "{frame}");
    });
}

#[test]
fn concurrent_sends_are_each_settled_with_their_own_result() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c).await;
        let pendings: Vec<_> = (0..20)
            .map(|i| link.request(action("send", json!({"n": i})), None))
            .collect();
        for (i, pending) in pendings.into_iter().enumerate() {
            let result = deadline(WAIT, "a result", pending.settled()).await;
            let result = result.expect("the connector's result");
            assert_eq!(result["echo"]["n"], json!(i), "{result:?}");
        }
        assert_eq!(connector.seen().frames_of("outbound").count(), 20);
    });
}

#[test]
fn an_unanswered_send_settles_as_an_ambiguous_timeout() {
    run(async {
        let timeout = Duration::from_millis(300);
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.outbound_timeout(timeout)).await;
        connector.set_result("send", None);
        let started = Instant::now();
        let result = deadline(
            WAIT,
            "the timeout settlement",
            link.send(action("send", json!({"text": "into the void"})), None),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(result, Err(RequestError::TimedOut));
        assert!(took >= timeout, "settled early: {took:?}");
        assert!(took <= timeout + Duration::from_secs(2), "late: {took:?}");
        assert_eq!(connector.seen().frames_of("outbound").count(), 1);
        // A timeout does not drop the connection.
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(watch.entered(S::Retrying), 0);
        watch.collect_for(Duration::from_millis(50)).await;
        assert_eq!(dials(&connector), 1);
    });
}

#[test]
fn a_result_arriving_after_its_timeout_is_ignored() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c.outbound_timeout(Duration::from_millis(200))).await;
        connector.set_result("send", None);
        let pending = link.request(action("send", json!({})), None);
        let id = pending.id().to_string();
        let result = deadline(WAIT, "the timeout", pending.settled()).await;
        assert_eq!(result, Err(RequestError::TimedOut));
        // The late answer, and one for an id never sent.
        for request_id in [id.as_str(), "ffffffffffffffffffffffffffffffff"] {
            let sent = connector.send_frame(
                GW,
                json!({"type": "outbound_result", "requestId": request_id, "result": {"success": true}}),
            );
            assert_eq!(sent, 1);
        }
        connector.set_result("send", Some(json!({"success": true, "fresh": true})));
        let result = deadline(
            WAIT,
            "a later send",
            link.send(action("send", json!({})), None),
        )
        .await;
        assert_eq!(result, answered(json!({"success": true, "fresh": true})));
        assert_eq!(dials(&connector), 1);
    });
}

#[test]
fn a_send_while_retrying_fails_at_once_as_not_connected() {
    run(async {
        let connector = connector().await;
        connector.reject_http(GW, 1_000, 503);
        // A long ladder: a send that waited for a reconnect would hang.
        let (link, mut watch) = spawn(
            fast_config(&connector)
                .backoff_base(Duration::from_secs(20))
                .backoff_max(Duration::from_secs(20)),
        );
        watch.until_state(S::Retrying).await;
        let result = deadline(
            Duration::from_secs(2),
            "an immediate refusal",
            link.send(action("send", json!({"text": "hi"})), Some("discord")),
        )
        .await;
        assert_eq!(result, Err(RequestError::NotConnected));
        assert_eq!(connector.seen().frames_of("outbound").count(), 0);
        assert_eq!(dials(&connector), 1);
    });
}

#[test]
fn a_send_before_the_handshake_fails_at_once_as_not_connected() {
    run(async {
        let connector = connector().await;
        connector.withhold_descriptor(GW, true);
        let (link, _watch) =
            spawn(fast_config(&connector).handshake_timeout(Duration::from_secs(10)));
        // The socket is open and the hellos are out, but no descriptor.
        wait_seen(&connector, "both hellos", |s| {
            s.frames_of("hello").count() == 2
        })
        .await;
        assert_eq!(link.state(), S::Connecting);
        let result = deadline(
            Duration::from_secs(2),
            "an immediate refusal",
            link.send(action("send", json!({})), None),
        )
        .await;
        assert_eq!(result, Err(RequestError::NotConnected));
        sleep(Duration::from_millis(50)).await;
        assert_eq!(connector.seen().frames_of("outbound").count(), 0);
    });
}

#[test]
fn an_in_flight_send_lost_in_a_drop_settles_as_connection_lost_at_once() {
    run(async {
        // A long outbound timeout: only the drop can settle it in time.
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.outbound_timeout(Duration::from_secs(20))).await;
        connector.set_result("send", None);
        let pending = link.request(action("send", json!({"text": "lost"})), None);
        wait_seen(&connector, "the outbound", |s| {
            s.frames_of("outbound").count() == 1
        })
        .await;
        connector.drop_connections(GW);
        let result = deadline(WAIT, "the connection-lost settlement", pending.settled()).await;
        assert_eq!(result, Err(RequestError::ConnectionLost));
        // And the link reconnects on its own; sends work again.
        watch.until_state(S::Handshaken).await;
        connector.set_result("send", Some(json!({"success": true})));
        let result = deadline(WAIT, "a send after the reconnect", async {
            link.send(action("send", json!({})), None).await
        })
        .await;
        assert_eq!(result, answered(json!({"success": true})));
    });
}

#[test]
fn in_flight_sends_fail_as_closed_when_the_link_is_disabled() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.outbound_timeout(Duration::from_secs(20))).await;
        connector.set_result("send", None);
        let pending = link.request(action("send", json!({})), None);
        wait_seen(&connector, "the outbound", |s| {
            s.frames_of("outbound").count() == 1
        })
        .await;
        connector.revoke(GW);
        // The first strike drops the connection: the in-flight request is
        // lost with it (written, no answer).
        let result = deadline(WAIT, "the settlement", pending.settled()).await;
        assert!(
            result.as_ref().is_err_and(RequestError::is_ambiguous),
            "{result:?}"
        );
        watch.until_end().await;
        assert_eq!(watch.fatals.len(), 1);
        let result = deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await;
        assert_eq!(result, Err(RequestError::Closed { ambiguous: false }));
    });
}

#[test]
fn a_send_after_disconnect_fails_as_closed() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        disconnect_and_end(&link, &mut watch).await;
        for platform in [None, Some("discord")] {
            let result = deadline(
                WAIT,
                "a send after disconnect",
                link.send(action("send", json!({})), platform),
            )
            .await;
            assert_eq!(result, Err(RequestError::Closed { ambiguous: false }));
        }
        assert_eq!(connector.seen().frames_of("outbound").count(), 0);
        // The idle calls answer at once too.
        assert!(!deadline(WAIT, "go_idle", link.go_idle()).await);
        assert!(!deadline(WAIT, "go_dormant", link.go_dormant()).await);
    });
}

#[test]
fn interrupts_go_out_and_interrupt_inbound_comes_in() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        link.interrupt("session-1", Some("user pressed stop"));
        link.interrupt("session-2", None);
        wait_seen(&connector, "two interrupts", |s| {
            s.frames_of("interrupt").count() == 2
        })
        .await;
        let seen = connector.seen();
        let frames: Vec<_> = seen.frames_of("interrupt").map(|f| &f.frame).collect();
        assert_eq!(frames[0]["session_key"], "session-1");
        assert_eq!(frames[0]["reason"], "user pressed stop");
        assert_eq!(frames[1]["session_key"], "session-2");
        assert_eq!(frames[1]["reason"], Value::Null);

        connector.send_frame(
            GW,
            json!({"type": "interrupt_inbound", "session_key": "session-9", "chat_id": 42, "x": 1}),
        );
        match watch
            .expect("an interrupt_inbound", |e| {
                matches!(e, Event::InterruptInbound(_))
            })
            .await
        {
            Event::InterruptInbound(frame) => {
                assert_eq!(frame.session_key, "session-9");
                assert_eq!(frame.chat_id, "42");
                assert_eq!(frame.extra.get("x"), Some(&json!(1)));
            }
            _ => unreachable!(),
        }
    });
}

#[test]
fn requests_made_while_the_link_shuts_down_never_hang() {
    run(async {
        let Online {
            connector: _connector,
            link,
            mut watch,
        } = online(|c| c).await;
        // Keep asking from another thread while the link ends.
        let asking = link.clone();
        let asker = std::thread::spawn(move || {
            let mut pendings = Vec::new();
            let mut idles = Vec::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(400) {
                pendings.push(asking.request(action("send", json!({})), None));
                if pendings.len() % 8 == 0 {
                    let link = asking.clone();
                    idles.push(smol::spawn(async move { link.go_idle().await }));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (pendings, idles)
        });
        sleep(Duration::from_millis(100)).await;
        disconnect_and_end(&link, &mut watch).await;
        let (pendings, idles) = asker.join().unwrap();
        assert!(pendings.len() > 100);
        for pending in pendings {
            let result = deadline(WAIT, "every request settled", pending.settled()).await;
            assert!(
                result.as_ref().is_ok_and(|r| r["success"] == true)
                    || result == Err(RequestError::Closed { ambiguous: false }),
                "{result:?}"
            );
        }
        for idle in idles {
            deadline(WAIT, "every go_idle answered", idle).await;
        }
    });
}
