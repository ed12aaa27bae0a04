//! `Events` is a `Stream` read with each runtime's `StreamExt::next`
//! (issue 10, item 7): it has no inherent `next` that would shadow the
//! trait's. The type annotations below are the check: with an inherent
//! `next`, `events.next()` would be that method and not compile as the
//! trait's future.

use std::time::Duration;

use relay_link::config::Config;
use relay_link::shell::{Event, Events, Options, RelayLink};
use relay_link::LinkState;

#[test]
fn events_next_is_the_stream_ext_next_of_futures_and_of_smol() {
    // Nothing listens on port 9: the link dials, fails, and is closed.
    let config = Config::builder("http://127.0.0.1:9")
        .build()
        .expect("a valid config");
    let (link, mut events, driver) =
        RelayLink::new(config, Options::default()).expect("the link starts");
    let driver = smol::spawn(driver);
    smol::block_on(async {
        link.disconnect(Duration::from_secs(1)).await;
        let mut states = Vec::new();
        loop {
            let event = {
                use futures_util::StreamExt;
                let next: futures_util::stream::Next<'_, Events> = events.next();
                next.await
            };
            let Some(event) = event else { break };
            if let Event::State { state, .. } = event {
                states.push(state);
            }
        }
        assert_eq!(states.last(), Some(&LinkState::Closed), "{states:?}");
        let end = {
            use smol::stream::StreamExt;
            let next: smol::stream::NextFuture<'_, Events> = events.next();
            next.await
        };
        assert!(end.is_none(), "the stream stays ended");
        assert!(events.next_ready().is_none());
        driver.await;
    });
}
