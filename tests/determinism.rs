//! Determinism of the recorded trace: a real loopback session is recorded
//! (`Options::record`) while the shell reports every command it executed
//! (`Options::command_log`); replaying the trace through a fresh core
//! (`Trace::commands`) must give exactly those commands, in order.

mod loopback;

use std::time::Duration;

use loopback::*;
use relay_link::shell::Options;
use relay_link::testing::{CommandLog, Delivery};
use relay_link::{Command, LinkState, Settlement};
use serde_json::json;

/// The first place two command lists differ, with a little context.
fn first_difference(executed: &[Command], replayed: &[Command]) -> String {
    let at = executed
        .iter()
        .zip(replayed)
        .position(|(a, b)| a != b)
        .unwrap_or(executed.len().min(replayed.len()));
    let from = at.saturating_sub(3);
    format!(
        "{} executed vs {} replayed; first difference at #{at}\nexecuted: {:#?}\nreplayed: {:#?}",
        executed.len(),
        replayed.len(),
        &executed[from..(at + 3).min(executed.len())],
        &replayed[from..(at + 3).min(replayed.len())],
    )
}

fn count(commands: &[Command], pred: impl Fn(&Command) -> bool) -> usize {
    commands.iter().filter(|c| pred(c)).count()
}

fn settled(commands: &[Command], wanted: &Settlement) -> usize {
    count(
        commands,
        |c| matches!(c, Command::Settle { settlement, .. } if settlement == wanted),
    )
}

#[test]
fn replaying_a_recorded_session_reproduces_the_executed_commands_in_order() {
    run(async {
        let connector = connector().await;
        let offline = connector.push_inbound(GW, json!({"text": "while offline"}));
        assert!(matches!(offline, Delivery::Buffered { .. }), "{offline:?}");
        connector.set_result("prompt", None);

        let path = trace_path("determinism");
        let log = CommandLog::new();
        let (link, mut watch) = spawn_with(
            fast_config(&connector).outbound_timeout(Duration::from_millis(300)),
            Options {
                seed: Some(11),
                record: Some(path.clone()),
                command_log: Some(log.clone()),
                ..Options::default()
            },
        );

        // Handshake; the buffered message is delivered, accepted and acked.
        watch.until_state(LinkState::Handshaken).await;
        match watch.expect("the buffered inbound", is_inbound).await {
            relay_link::shell::Event::Inbound {
                acceptance: Some(acceptance),
                ..
            } => acceptance.accept(),
            other => panic!("a buffered inbound, got {other:?}"),
        }
        wait_seen(&connector, "the ack", |s| s.acks.len() == 1).await;

        // A result, and a timeout.
        let ok = link
            .send(action("send", json!({"text": "hi"})), Some("slack"))
            .await
            .expect("the connector's result");
        assert_eq!(ok["success"], true, "{ok:?}");
        let timed_out = link.send(action("prompt", json!({})), None).await;
        assert_eq!(timed_out, Settlement::TimedOut.into_result());

        // An in-flight request lost in a drop; backoff, reconnect.
        let lost = link.request(action("prompt", json!({})), None);
        wait_seen(&connector, "the second prompt", |s| {
            s.frames_of("outbound").count() == 3
        })
        .await;
        connector.drop_connections(GW);
        assert_eq!(
            lost.settled().await,
            Settlement::ConnectionLost.into_result()
        );
        watch.until_state(LinkState::Retrying).await;
        watch.until_state(LinkState::Handshaken).await;

        // A provisional 4401, recovered by the fresh-token re-dial.
        let dials_before = dials(&connector);
        connector.close_with(GW, 4401, "unauthorized");
        wait_seen(&connector, "the fresh-token re-dial", |s| {
            s.dials.len() == dials_before + 1
        })
        .await;
        watch.until_state(LinkState::Handshaken).await;

        // A deliberate disconnect ends the session.
        link.disconnect(Duration::from_secs(2)).await;
        watch.until_end().await;
        assert_eq!(link.state(), LinkState::Closed);

        let executed = log.take_ready();
        let (text, trace) = read_trace(&path);
        assert!(!text.contains(SECRET), "no secret in the trace");
        let replayed = trace.commands().expect("the trace replays");
        assert!(
            executed == replayed,
            "{}",
            first_difference(&executed, &replayed)
        );

        // The session really covered what it claims to.
        assert!(count(&executed, |c| matches!(c, Command::Dial { .. })) >= 3);
        assert_eq!(count(&executed, |c| matches!(c, Command::Inbound(_))), 1);
        assert_eq!(settled(&executed, &Settlement::TimedOut), 1);
        assert_eq!(settled(&executed, &Settlement::ConnectionLost), 1);
        assert_eq!(
            count(&executed, |c| matches!(
                c,
                Command::Settle {
                    settlement: Settlement::Result(_),
                    ..
                }
            )),
            1
        );
        assert_eq!(
            count(&executed, |c| matches!(
                c,
                Command::Close { code: 1000, .. }
            )),
            1
        );
        assert!(executed.contains(&Command::StateChanged(LinkState::Closed)));
    });
}
