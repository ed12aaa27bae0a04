//! The driver hands the events of one turn to the application together:
//! an application waiting for events is woken once for the batch, and
//! finds the whole batch waiting, instead of once per event.

mod loopback;

use futures_util::StreamExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::Stream;
use loopback::*;
use relay_link::shell::{Event, Events, RelayLink};
use relay_link::LinkState;
use serde_json::json;

/// The application's waker: records how many events were waiting in the
/// channel when it was first woken.
struct Probe {
    link: RelayLink,
    queued_at_wake: Mutex<Option<usize>>,
}

impl Wake for Probe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut seen = self.queued_at_wake.lock().expect("probe lock");
        seen.get_or_insert(self.link.stats().queued_events);
    }
}

/// Polls the stream with `probe`'s waker until it is pending (the
/// application now waits for its next event).
fn wait_with(events: &mut Events, probe: &Arc<Probe>) {
    let waker = Waker::from(Arc::clone(probe));
    let mut cx = Context::from_waker(&waker);
    while let Poll::Ready(event) = Pin::new(&mut *events).poll_next(&mut cx) {
        assert!(event.is_some(), "the stream ended");
    }
}

#[test]
fn the_events_of_one_message_reach_a_waiting_application_together() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(LinkState::Handshaken).await;
        let mut events = watch.into_events();
        let probe = Arc::new(Probe {
            link: link.clone(),
            queued_at_wake: Mutex::new(None),
        });
        wait_with(&mut events, &probe);
        // Ten inbound frames in one WebSocket message: one turn of the driver.
        let lines: String = (0..10)
            .map(|n| {
                json!({"type": "inbound", "event": {"text": format!("t{n}")}}).to_string() + "\n"
            })
            .collect();
        assert_eq!(connector.send_raw(GW, &lines), 1);
        let queued = deadline(WAIT, "the application is woken", async {
            loop {
                if let Some(queued) = *probe.queued_at_wake.lock().expect("probe lock") {
                    return queued;
                }
                sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        assert_eq!(queued, 10, "events waiting when the application was woken");
        let mut texts = Vec::new();
        while texts.len() < 10 {
            match deadline(WAIT, "an inbound", events.next()).await {
                Some(Event::Inbound { frame, .. }) => {
                    texts.push(frame.event().expect("typed").text.unwrap_or_default());
                }
                Some(_) => {}
                None => panic!("the stream ended"),
            }
        }
        let wanted: Vec<String> = (0..10).map(|n| format!("t{n}")).collect();
        assert_eq!(texts, wanted);
        link.disconnect(Duration::from_secs(2)).await;
    });
}
