//! Regressions found by the fixtures review: each test asserts what the
//! relay contract asks where the core once did otherwise.

use std::time::{Duration, Instant};

use relay_link::config::Config;
use relay_link::{Command, Generation, Input, Link, LinkState};

const DESCRIPTOR: &str = concat!(
    r#"{"type":"descriptor","descriptor":{"contract_version":1,"platform":"discord","#,
    r#""label":"Discord","max_message_length":2000,"supports_draft_streaming":false,"#,
    r#""supports_edit":true,"supports_threads":true,"markdown_dialect":"discord","#,
    r#""len_unit":"chars"}}"#,
    "\n"
);

struct Driver {
    link: Link,
    t0: Instant,
}

impl Driver {
    fn new() -> Self {
        let config = Config::builder("ws://connector.test")
            .gateway_id("gw-1")
            .secret("s3cret")
            .identity("discord", "b1")
            .build()
            .unwrap();
        let t0 = Instant::now();
        let mut link = Link::new(config, 7, t0);
        link.handle_input(Input::Start, t0);
        link.drain_commands();
        Self { link, t0 }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn input(&mut self, ms: u64, input: Input) -> Vec<Command> {
        self.link.handle_input(input, self.at(ms));
        self.link.drain_commands().into_iter().collect()
    }

    fn timeout(&mut self, ms: u64) -> Vec<Command> {
        self.link.handle_timeout(self.at(ms));
        self.link.drain_commands().into_iter().collect()
    }

    /// Connection `gen` opens at `ms` and handshakes 18 ms later.
    fn handshake(&mut self, ms: u64, gen: u64) {
        let gen = Generation(gen);
        self.input(ms, Input::DialSucceeded { gen });
        self.input(
            ms + 18,
            Input::Received {
                gen,
                text: DESCRIPTOR.to_owned(),
            },
        );
        assert_eq!(self.link.state(), LinkState::Handshaken);
    }

    fn close(&mut self, ms: u64, gen: u64, code: u16, reason: &str) -> Vec<Command> {
        self.input(
            ms,
            Input::SocketClosed {
                gen: Generation(gen),
                code: Some(code),
                reason: reason.to_owned(),
            },
        )
    }
}

/// Contract §5 rules 4, 6 and 7: the fresh-token connection (gen 2) was
/// accepted, so the credential is good; an `expired` close is "never a
/// revocation ... ordinary drop", and "a 4401 on any later connection is
/// provisional again". The core instead turns `Judging(gen 2)` back into
/// `Armed` on the `expired` close (src/judgement.rs), so the first 4401 on
/// the later gen 3, however long it lived, revokes at once with no
/// fresh-token re-dial.
#[test]
fn a_later_4401_after_the_judged_connection_closed_expired_is_provisional() {
    let mut d = Driver::new();
    d.handshake(23, 1);
    let strike = d.close(5_000, 1, 4401, "unauthorized");
    assert!(strike.contains(&Command::Dial {
        gen: Generation(2),
        auth: true
    }));
    d.handshake(5_023, 2); // the fresh token is accepted: gen 2 is judged
    d.close(20_000, 2, 4401, "expired"); // an ordinary drop
    assert_eq!(d.link.state(), LinkState::Retrying);
    d.timeout(21_000);
    d.handshake(21_023, 3);

    let later = d.close(25_000, 3, 4401, "unauthorized");
    assert!(
        !later.iter().any(|c| matches!(c, Command::Fatal(_))),
        "a first 4401 on a later connection must not revoke: {later:?}"
    );
    assert!(
        later.contains(&Command::Dial {
            gen: Generation(4),
            auth: true
        }),
        "it re-dials once, immediately, with a fresh token: {later:?}"
    );
}
