use super::*;

const SECRET: &str = "s3cr3t-do-not-print";

fn builder() -> ConfigBuilder {
    Config::builder("https://connector.example.com")
}

#[test]
fn urls_are_normalised_and_normalising_again_changes_nothing() {
    let table = [
        ("http://host", "ws://host/relay"),
        ("https://host", "wss://host/relay"),
        ("ws://host", "ws://host/relay"),
        ("wss://host", "wss://host/relay"),
        ("https://host/", "wss://host/relay"),
        ("https://host///", "wss://host/relay"),
        ("https://host/relay", "wss://host/relay"),
        ("https://host/relay/", "wss://host/relay"),
        ("https://host/relay//", "wss://host/relay"),
        ("https://host/base", "wss://host/base/relay"),
        ("https://host/base/", "wss://host/base/relay"),
        ("https://host/base/relay", "wss://host/base/relay"),
        ("https://host/my-relay", "wss://host/my-relay/relay"),
        ("https://host/relayed", "wss://host/relayed/relay"),
        ("  https://host  ", "wss://host/relay"),
        ("\thttp://host:8080/\n", "ws://host:8080/relay"),
        ("HTTPS://host", "wss://host/relay"),
        ("Http://host", "ws://host/relay"),
        ("WSS://Host.Example:443/x", "wss://Host.Example:443/x/relay"),
        ("http://[::1]:9000", "ws://[::1]:9000/relay"),
        ("http://[::1]/", "ws://[::1]/relay"),
        ("ws://127.0.0.1:1/relay", "ws://127.0.0.1:1/relay"),
    ];
    for (raw, expected) in table {
        let once = normalize_url(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(once, expected, "{raw:?}");
        assert_eq!(
            normalize_url(&once).unwrap(),
            once,
            "idempotence of {raw:?}"
        );
    }
}

#[test]
fn bad_urls_are_refused_naming_the_url_field() {
    for raw in [
        "",
        "   ",
        "host.example.com",
        "ftp://host",
        "tcp://host",
        "://host",
        "https://",
        "https:///relay",
        "https://:8080",
        "https://host:",
        "https://host:http",
        "https://host:70000",
        "https://user:pw@host",
        "https://host/a b",
        "https://host/?x=1",
        "https://host?x=1",
        "https://host/#frag",
        "https://[::1",
        "https://[::1]x",
    ] {
        let err = normalize_url(raw).expect_err(raw);
        assert_eq!(err.field(), "url", "{raw:?}");
        assert!(
            err.to_string().starts_with("invalid configuration: url: "),
            "{err}"
        );
    }
}

#[test]
fn the_builder_stores_the_normalised_url() {
    assert_eq!(
        builder().build().unwrap().url(),
        "wss://connector.example.com/relay"
    );
}

#[test]
fn a_bad_url_fails_the_build() {
    let err = Config::builder("gopher://x").build().unwrap_err();
    assert_eq!(err.field(), "url");
}

#[test]
fn a_gateway_id_containing_a_colon_is_refused_naming_the_field() {
    let err = builder()
        .gateway_id("gw:1")
        .secret(SECRET)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "gateway_id");
    assert_eq!(
        err.to_string(),
        "invalid configuration: gateway_id: must not contain ':'"
    );
    assert!(!err.to_string().contains(SECRET));
}

#[test]
fn an_empty_gateway_id_is_refused() {
    for id in ["", "  "] {
        let err = builder().gateway_id(id).build().unwrap_err();
        assert_eq!(err.field(), "gateway_id");
    }
}

#[test]
fn a_blank_secret_counts_as_missing() {
    for blank in ["", " ", "\t\n "] {
        let config = builder().gateway_id("gw").secret(blank).build().unwrap();
        assert!(config.secret().is_none());
        assert!(!config.auth_configured());
        assert!(config.mint_token(1_700_000_000).is_none());
    }
}

#[test]
fn auth_needs_both_a_gateway_id_and_a_secret() {
    assert!(!builder().build().unwrap().auth_configured());
    assert!(!builder()
        .gateway_id("gw")
        .build()
        .unwrap()
        .auth_configured());
    assert!(!builder().secret(SECRET).build().unwrap().auth_configured());
    let config = builder().gateway_id("gw").secret(SECRET).build().unwrap();
    assert!(config.auth_configured());
}

#[test]
fn the_config_mints_the_contract_token() {
    let config = builder()
        .gateway_id("gw-x")
        .secret(Secret::new("secret-x"))
        .build()
        .unwrap();
    let token = config.mint_token(1_700_000_000).unwrap();
    assert_eq!(
        token.expose(),
        "Z3cteDoxNzAwMDAwMzAwOjZjYWE4MDZmZjAwN2EyYWUzYzJkZWNjNmQwOTFhZTE2ZjUxNjRlMzJiMTNiNWEwMTNkNzEzYjRiOWYwYjFjNDg"
    );
    let never = builder()
        .gateway_id("gw-x")
        .secret("secret-x")
        .token_ttl_secs(0)
        .build()
        .unwrap();
    assert_eq!(never.mint_token(1_700_000_000).unwrap().expires_at(), 0);
}

#[test]
fn the_default_identity_is_relay_with_an_empty_bot_id() {
    let config = builder().build().unwrap();
    assert_eq!(config.identities(), [Identity::new("relay", "")]);
    assert_eq!(config.identities()[0].to_string(), "relay:");
}

#[test]
fn configured_identities_replace_the_default_and_keep_their_order() {
    let config = builder()
        .identity("slack", "B1")
        .identity("discord", "")
        .build()
        .unwrap();
    assert_eq!(
        config.identities(),
        [Identity::new("slack", "B1"), Identity::new("discord", "")]
    );
    let empty_list = builder().identities(Vec::new()).build().unwrap();
    assert_eq!(empty_list.identities(), [Identity::default_identity()]);
}

#[test]
fn identities_parse_on_the_first_colon() {
    assert_eq!(
        Identity::parse("discord:123").unwrap(),
        Identity::new("discord", "123")
    );
    assert_eq!(
        Identity::parse("relay:").unwrap(),
        Identity::new("relay", "")
    );
    assert_eq!(Identity::parse("x:a:b").unwrap(), Identity::new("x", "a:b"));
    for bad in ["discord", "", ":123", " :1"] {
        assert_eq!(
            Identity::parse(bad).unwrap_err().field(),
            "identities",
            "{bad:?}"
        );
    }
}

#[test]
fn duplicate_or_empty_platforms_are_refused() {
    let dup = builder()
        .identity("slack", "A")
        .identity("slack", "B")
        .build();
    assert_eq!(dup.unwrap_err().field(), "identities");
    let empty = builder().identity("", "A").build();
    assert_eq!(empty.unwrap_err().field(), "identities");
}

#[test]
fn each_zero_timing_is_refused_naming_its_field() {
    type Setter = fn(ConfigBuilder, Duration) -> ConfigBuilder;
    let setters: [(&str, Setter); 11] = [
        ("backoff_base", ConfigBuilder::backoff_base),
        ("backoff_max", ConfigBuilder::backoff_max),
        ("stable_after", ConfigBuilder::stable_after),
        ("connect_timeout", ConfigBuilder::connect_timeout),
        ("handshake_timeout", ConfigBuilder::handshake_timeout),
        ("outbound_timeout", ConfigBuilder::outbound_timeout),
        ("ping_interval", ConfigBuilder::ping_interval),
        ("idle_timeout", ConfigBuilder::idle_timeout),
        ("going_idle_timeout", ConfigBuilder::going_idle_timeout),
        ("dormant_redial", ConfigBuilder::dormant_redial),
        ("max_hold", ConfigBuilder::max_hold),
    ];
    for (field, set) in setters {
        let err = set(builder(), Duration::ZERO).build().unwrap_err();
        assert_eq!(err.field(), field);
        assert_eq!(
            err.to_string(),
            format!("invalid configuration: {field}: must be greater than zero")
        );
    }
}

#[test]
fn a_zero_drain_grace_is_allowed() {
    let config = builder().drain_grace(Duration::ZERO).build().unwrap();
    assert_eq!(config.drain_grace(), Duration::ZERO);
}

#[test]
fn a_backoff_cap_below_the_base_is_refused() {
    let err = builder()
        .backoff_base(Duration::from_secs(5))
        .backoff_max(Duration::from_secs(4))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "backoff_max");
    let equal = builder()
        .backoff_base(Duration::from_secs(5))
        .backoff_max(Duration::from_secs(5))
        .build();
    assert!(equal.is_ok());
}

#[test]
fn an_idle_timeout_not_above_the_ping_interval_is_refused() {
    for idle in [29, 30] {
        let err = builder()
            .ping_interval(Duration::from_secs(30))
            .idle_timeout(Duration::from_secs(idle))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "idle_timeout");
    }
}

#[test]
fn zero_sizes_are_refused_naming_their_field() {
    assert_eq!(
        builder().max_frame_size(0).build().unwrap_err().field(),
        "max_frame_size"
    );
    assert_eq!(
        builder().dedupe_capacity(0).build().unwrap_err().field(),
        "dedupe_capacity"
    );
}

#[test]
fn the_defaults_match_the_contracts() {
    let c = builder().build().unwrap();
    let s = Duration::from_secs;
    assert_eq!(c.gateway_id(), None);
    assert_eq!(c.backoff_base(), s(1));
    assert_eq!(c.backoff_max(), s(30));
    assert_eq!(c.stable_after(), s(60));
    assert_eq!(c.connect_timeout(), s(10));
    assert_eq!(c.handshake_timeout(), s(30));
    assert_eq!(c.outbound_timeout(), s(30));
    assert_eq!(c.ping_interval(), s(30));
    assert_eq!(c.idle_timeout(), s(60));
    assert_eq!(c.token_ttl_secs(), 300);
    assert_eq!(c.going_idle_timeout(), s(10));
    assert_eq!(c.dormant_redial(), s(1));
    assert_eq!(c.max_hold(), s(60));
    assert_eq!(c.drain_grace(), s(5));
    assert_eq!(c.max_frame_size(), 16 * 1024 * 1024);
    assert_eq!(c.dedupe_capacity(), 100_000);
}

#[test]
fn debug_of_a_config_or_builder_contains_no_secret() {
    let b = builder().gateway_id("gw").secret(SECRET);
    let config = b.clone().build().unwrap();
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{b:?}"),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    assert_eq!(config.secret().unwrap().expose(), SECRET);
}

#[test]
fn the_summary_is_secret_free_and_round_trips() {
    let config = builder()
        .gateway_id("gw-1")
        .secret(SECRET)
        .identity("discord", "42")
        .identity("slack", "")
        .backoff_base(Duration::from_millis(250))
        .backoff_max(Duration::from_millis(8_000))
        .stable_after(Duration::from_millis(61_500))
        .connect_timeout(Duration::from_millis(1_234))
        .handshake_timeout(Duration::from_millis(2_000))
        .outbound_timeout(Duration::from_millis(3_000))
        .ping_interval(Duration::from_millis(4_000))
        .idle_timeout(Duration::from_millis(9_000))
        .token_ttl_secs(-1)
        .going_idle_timeout(Duration::from_millis(500))
        .dormant_redial(Duration::from_millis(750))
        .max_hold(Duration::from_millis(12_000))
        .drain_grace(Duration::ZERO)
        .max_frame_size(1024)
        .dedupe_capacity(7)
        .build()
        .unwrap();
    let summary = config.summary();
    let json = serde_json::to_string(&summary).unwrap();
    assert!(!json.contains(SECRET), "{json}");
    assert!(json.contains(r#""backoff_base_ms":250"#), "{json}");
    assert!(json.contains(r#""token_ttl_s":-1"#), "{json}");
    assert!(json.contains(r#""auth":true"#), "{json}");

    let parsed: ConfigSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, summary);
    let replayed = parsed.to_config().unwrap();
    assert_eq!(replayed.summary(), summary);
    assert!(replayed.auth_configured());
    assert_eq!(
        replayed.secret().unwrap().expose(),
        REPLAY_PLACEHOLDER_SECRET
    );
    assert_eq!(replayed.identities(), config.identities());
    assert_eq!(replayed.stable_after(), config.stable_after());
}

#[test]
fn a_summary_without_auth_replays_without_a_secret() {
    let config = builder().gateway_id("gw-1").build().unwrap();
    let replayed = config.summary().to_config().unwrap();
    assert_eq!(replayed, config);
    assert!(replayed.secret().is_none());
}

#[test]
fn a_summary_claiming_auth_without_a_gateway_id_is_refused() {
    let mut summary = builder().build().unwrap().summary();
    summary.auth = true;
    assert_eq!(summary.to_config().unwrap_err().field(), "auth");
}
