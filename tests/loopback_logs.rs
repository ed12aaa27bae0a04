//! The link's log lines over loopback: each failure at `warn` inside a
//! span that names the gateway, repeated identical failures summarised
//! instead of logged one by one, and never the secret or a token.
//!
//! The driver runs on the test's own thread (`RelayLink::new`), so the
//! thread's subscriber captures everything it logs.

mod loopback;

use futures_util::StreamExt;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use loopback::*;
use relay_link::config::{Config, ConfigBuilder};
use relay_link::shell::{Event, Events, Options, RelayLink};
use relay_link::token::{mint_token, Secret};
use relay_link::LinkState as S;

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// Runs a link built from `config` on this thread with `body` beside it,
/// and returns everything logged (every level), one line per entry.
fn logged<F: Future<Output = ()>>(
    config: ConfigBuilder,
    body: impl FnOnce(RelayLink, Events) -> F,
) -> Vec<String> {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let config = config.build().expect("a valid configuration");
    let options = Options {
        seed: Some(7),
        ..Options::default()
    };
    let (link, events, driver) = RelayLink::new(config, options).expect("the link builds");
    tracing::subscriber::with_default(subscriber, || {
        run(async {
            smol::future::zip(driver, body(link, events)).await;
        });
    });
    let bytes = buffer.0.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Reads events until the stream ends; returns how often the link
/// entered `state`.
async fn count_until_end(events: &mut Events, state: S) -> usize {
    let mut n = 0;
    while let Some(event) = deadline(WAIT, "the end of the stream", events.next()).await {
        if matches!(event, Event::State { state: s, .. } if s == state) {
            n += 1;
        }
    }
    n
}

#[test]
fn repeated_refusals_are_logged_once_then_summarised_in_the_gateway_s_span() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let config = Config::builder(format!("ws://127.0.0.1:{port}"))
        .gateway_id("gw-logs")
        .secret(SECRET)
        .backoff_base(Duration::from_millis(10))
        .backoff_max(Duration::from_millis(20));
    let refusals = Arc::new(Mutex::new(0));
    let lines = logged(config, {
        let refusals = Arc::clone(&refusals);
        |link, mut events| async move {
            let mut seen = 0;
            while seen < 5 {
                if let Some(Event::State {
                    state: S::Retrying, ..
                }) = deadline(WAIT, "a retry", events.next()).await
                {
                    seen += 1;
                }
            }
            link.disconnect(Duration::from_secs(1)).await;
            seen += count_until_end(&mut events, S::Retrying).await;
            *refusals.lock().unwrap_or_else(PoisonError::into_inner) = seen;
        }
    });
    let refusals = *refusals.lock().unwrap_or_else(PoisonError::into_inner);
    let refused = format!("connection refused (127.0.0.1:{port})");
    let warnings: Vec<&String> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(
        warnings.len(),
        2,
        "the first refusal, then one summary: {warnings:#?}"
    );
    assert!(
        warnings[0].contains(&format!("{refused}; retrying in")),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains(&format!("{refused} (repeated {} more times)", refusals - 1)),
        "{refusals} refusals: {}",
        warnings[1]
    );
    for line in &warnings {
        assert!(line.contains("relay_link{gateway=\"gw-logs\""), "{line}");
    }
    for line in &lines {
        assert!(!line.contains(SECRET), "the secret leaked: {line}");
    }
}

#[test]
fn no_log_line_holds_the_secret_or_a_token() {
    let connector = smol::block_on(connector());
    connector.reject_http(GW, 1, 401);
    let config = fast_config(&connector);
    let ttl = config
        .clone()
        .build()
        .expect("a valid configuration")
        .token_ttl_secs();
    let lines = logged(config, |link, mut events| {
        let connector = &connector;
        async move {
            deadline(WAIT, "ready", link.ready())
                .await
                .expect("handshaken");
            connector.revoke(GW);
            count_until_end(&mut events, S::Disabled).await;
        }
    });
    let tokens: Vec<String> = connector
        .seen()
        .dials
        .iter()
        .filter_map(|dial| dial.token_exp)
        .map(|exp| {
            let token = mint_token(GW, &Secret::new(SECRET), exp - ttl, ttl);
            token.expose().to_owned()
        })
        .collect();
    assert!(
        tokens.len() >= 3,
        "the rejected, the accepted and the refused dials"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("HTTP 401")),
        "the rejection is logged: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("credential revoked")),
        "the revocation is logged: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains(SECRET), "the secret leaked: {line}");
        assert!(!line.contains("Bearer"), "a header leaked: {line}");
        for token in &tokens {
            assert!(!line.contains(token.as_str()), "a token leaked: {line}");
        }
    }
}
