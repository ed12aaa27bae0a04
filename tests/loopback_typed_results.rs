//! Typed request results over real sockets (issue 10, item 1): `Ok` is the
//! connector's answer whatever it says, `Err(RequestError)` the link's own
//! failure with its ambiguity; actions are any `Serialize` value, and one
//! that is not an object with a string `op` is refused before it is
//! queued.

mod loopback;

use std::time::Duration;

use loopback::*;
use relay_link::LinkState as S;
use relay_link::RequestError;
use serde_json::{json, Value};

#[test]
fn a_connectors_failure_is_an_ok_result_not_a_request_error() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c).await;
        let refusal = json!({"success": false, "error": "channel not found", "code": 404});
        connector.set_result("send", Some(refusal.clone()));
        let result = deadline(
            WAIT,
            "the connector's refusal",
            link.send(json!({"op": "send", "text": "hi"}), Some("discord")),
        )
        .await;
        assert_eq!(result, answered(refusal));
    });
}

#[test]
fn a_struct_action_goes_out_as_its_json_object() {
    #[derive(serde::Serialize)]
    struct Reply<'a> {
        op: &'static str,
        chat_id: u64,
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<&'a str>,
    }
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c).await;
        let reply = Reply {
            op: "send",
            chat_id: 42,
            text: "typed",
            reply_to: None,
        };
        let result = deadline(WAIT, "the result", link.send(&reply, Some("slack"))).await;
        let wire = json!({"op": "send", "chat_id": 42, "text": "typed"});
        assert_eq!(
            result,
            answered(json!({"success": true, "echo": wire.clone()}))
        );
        let seen = connector.seen();
        let frame = &seen
            .frames_of("outbound")
            .next()
            .expect("an outbound")
            .frame;
        assert_eq!(frame["action"], wire);
    });
}

#[test]
fn an_action_that_is_not_an_object_with_a_string_op_is_refused_and_nothing_is_written() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c).await;
        let refused: [(Value, &str); 4] = [
            (
                json!(["send", "hi"]),
                "relay action invalid: the action must be a JSON object, not an array",
            ),
            (
                json!("send"),
                "relay action invalid: the action must be a JSON object, not a string",
            ),
            (
                json!({"text": "no op"}),
                "relay action invalid: the action has no \"op\"",
            ),
            (
                json!({"op": 7}),
                "relay action invalid: the action's \"op\" must be a string, not a number",
            ),
        ];
        for (action, message) in refused {
            // Refused at once: `request` queues nothing, `settled` answers.
            let pending = link.request(&action, None);
            let result =
                deadline(Duration::from_millis(500), "the refusal", pending.settled()).await;
            let error = result.expect_err("an invalid action is refused");
            assert!(matches!(error, RequestError::InvalidAction(_)), "{error:?}");
            assert_eq!(error.to_string(), message);
            assert!(!error.is_ambiguous());
            assert_eq!(error.to_json(), json!({"success": false, "error": message}));
        }
        // A valid action after them is the first and only frame written.
        let result = deadline(
            WAIT,
            "a valid send",
            link.send(json!({"op": "send", "n": 1}), None),
        )
        .await;
        assert_eq!(result.expect("the connector's result")["success"], true);
        let seen = connector.seen();
        let actions: Vec<&Value> = seen
            .frames_of("outbound")
            .map(|f| &f.frame["action"])
            .collect();
        assert_eq!(actions, [&json!({"op": "send", "n": 1})]);
        assert_eq!(link.state(), S::Handshaken);
    });
}

#[test]
fn written_requests_without_an_answer_are_ambiguous_errors() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.outbound_timeout(Duration::from_millis(200))).await;
        connector.set_result("send", None);

        let timed_out = deadline(
            WAIT,
            "the timeout",
            link.send(action("send", json!({})), None),
        )
        .await
        .expect_err("no answer came");
        assert_eq!(timed_out, RequestError::TimedOut);
        assert!(timed_out.is_ambiguous());

        let pending = link.request(action("send", json!({"n": 2})), None);
        wait_seen(&connector, "the second outbound", |s| {
            s.frames_of("outbound").count() == 2
        })
        .await;
        connector.drop_connections(GW);
        let lost = deadline(WAIT, "the drop", pending.settled())
            .await
            .expect_err("the connection dropped");
        assert_eq!(lost, RequestError::ConnectionLost);
        assert!(lost.is_ambiguous());
        watch.until_state(S::Handshaken).await;
    });
}

#[test]
fn an_action_over_the_frame_limit_is_an_unambiguous_too_large_error() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c.max_frame_size(4096)).await;
        let too_large = deadline(
            WAIT,
            "the size refusal",
            link.send(action("send", json!({"text": "x".repeat(5000)})), None),
        )
        .await
        .expect_err("over the frame limit");
        assert_eq!(too_large, RequestError::TooLarge);
        assert!(!too_large.is_ambiguous());
        assert_eq!(link.state(), S::Handshaken, "the connection stays up");
        assert_eq!(connector.seen().frames_of("outbound").count(), 0);
    });
}
