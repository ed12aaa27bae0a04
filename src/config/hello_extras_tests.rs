//! Extra `hello` fields of an identity: validation, `Debug`, the summary.

use serde_json::json;

use super::*;
use crate::protocol::OutgoingFrame;

fn manifest() -> Value {
    json!([{"name": "ask", "description": "x".repeat(200)}])
}

fn discord() -> Identity {
    Identity::new("discord", "bot-1")
        .hello_extra("command_manifest", manifest())
        .hello_extra("relevance", json!({"mode": "mentions"}))
}

fn builder() -> ConfigBuilder {
    Config::builder("https://connector.example.com")
}

#[test]
fn an_identity_s_extras_reach_its_hello_after_the_contract_keys() {
    let config = builder()
        .add_identity(discord())
        .identity("slack", "B1")
        .build()
        .unwrap();
    let OutgoingFrame::Hello {
        platform,
        bot_id,
        extra,
    } = config.identities()[0].hello()
    else {
        panic!("a hello");
    };
    assert_eq!((platform.as_str(), bot_id.as_str()), ("discord", "bot-1"));
    assert_eq!(
        extra.keys().collect::<Vec<_>>(),
        ["command_manifest", "relevance"]
    );
    assert_eq!(extra["command_manifest"], manifest());
    assert_eq!(
        config.identities()[1].hello().to_line(),
        "{\"type\":\"hello\",\"platform\":\"slack\",\"botId\":\"B1\"}\n"
    );
}

#[test]
fn an_extra_named_like_a_contract_hello_field_is_refused_naming_the_identity_and_key() {
    for key in ["type", "platform", "botId"] {
        let error = builder()
            .identity("slack", "B1")
            .add_identity(Identity::new("discord", "bot-1").hello_extra(key, json!("x")))
            .build()
            .unwrap_err();
        assert_eq!(error.field(), "identities");
        assert!(error.message().contains("discord:bot-1"), "{error}");
        assert!(error.message().contains(&format!("{key:?}")), "{error}");
    }
    // `bot_id` (the Rust spelling) is not a wire key: it passes through.
    let config = builder()
        .add_identity(Identity::new("discord", "b").hello_extra("bot_id", json!(1)))
        .build()
        .unwrap();
    assert!(config.identities()[0]
        .hello()
        .to_line()
        .ends_with(",\"bot_id\":1}\n"));
}

#[test]
fn extras_that_make_the_hello_longer_than_the_frame_limit_are_refused() {
    let big = builder().add_identity(discord()).max_frame_size(150);
    let error = big.build().unwrap_err();
    assert_eq!(error.field(), "identities");
    assert!(error.message().contains("discord:bot-1"), "{error}");
    assert!(error.message().contains("max_frame_size"), "{error}");
    let line = discord().hello().to_line();
    let exact = builder()
        .add_identity(discord())
        .max_frame_size(line.len() - 1)
        .build();
    assert!(exact.is_ok(), "a hello of exactly the limit fits");
}

#[test]
fn debug_of_a_config_shows_the_extras_keys_but_not_their_values() {
    let config = builder().add_identity(discord()).build().unwrap();
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(shown.contains("command_manifest"), "{shown}");
        assert!(shown.contains("relevance"), "{shown}");
        assert!(!shown.contains("mentions"), "{shown}");
        assert!(!shown.contains(&"x".repeat(200)), "{shown}");
    }
}

#[test]
fn the_summary_keeps_only_the_extras_keys_and_replays_without_them() {
    let config = builder()
        .add_identity(discord())
        .identity("slack", "B1")
        .build()
        .unwrap();
    let summary = config.summary();
    let json = serde_json::to_string(&summary).unwrap();
    assert!(
        json.contains(
            r#""identities":[{"platform":"discord","bot_id":"bot-1","hello_extras":["command_manifest","relevance"]},{"platform":"slack","bot_id":"B1"}]"#
        ),
        "{json}"
    );
    assert!(!json.contains("mentions"), "{json}");
    let parsed: ConfigSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, summary);
    let replayed = parsed.to_config().unwrap();
    assert_eq!(
        replayed.identities(),
        [
            Identity::new("discord", "bot-1"),
            Identity::new("slack", "B1")
        ]
    );
    assert_eq!(replayed.summary().identities[0].platform, "discord");
    assert!(replayed.summary().identities[0].hello_extras.is_empty());
}

#[test]
fn a_summary_written_before_extras_existed_still_reads() {
    let header = r#"{"url":"ws://connector.test/relay","identities":[{"platform":"discord","bot_id":"b1"}]}"#;
    let summary: ConfigSummary = serde_json::from_str(header).unwrap();
    assert_eq!(summary.identities[0].hello_extras, Vec::<String>::new());
    let config = summary.to_config().unwrap();
    assert_eq!(config.identities(), [Identity::new("discord", "b1")]);
    assert_eq!(
        serde_json::to_string(&config.summary().identities).unwrap(),
        r#"[{"platform":"discord","bot_id":"b1"}]"#
    );
}
