//! Link configuration: the connector URL, the credentials, the fronted
//! identities and every timing of the relay contract.
//!
//! A [`Config`] is only obtained through [`ConfigBuilder::build`], which
//! validates everything *before* anything dials; a `Config` value is
//! therefore always usable. [`Config::summary`] gives a secret-free,
//! serialisable [`ConfigSummary`] for trace headers, and
//! [`ConfigSummary::to_config`] turns it back into a `Config` for replay.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::token::{self, Secret, Token};

/// Default first backoff step (contract §5 rule 9).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Default backoff cap (contract §5 rule 9).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default time a connection must stay handshaken to reset the backoff.
pub const DEFAULT_STABLE_AFTER: Duration = Duration::from_secs(60);
/// Default budget of one dial (TCP, TLS and upgrade).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait for the first descriptor after the upgrade was accepted.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default wait for an `outbound_result`.
pub const DEFAULT_OUTBOUND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default keepalive ping period.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Default silence after which a connection is declared dead.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default upgrade token lifetime, in seconds.
pub const DEFAULT_TOKEN_TTL_SECS: i64 = 300;
/// Default wait for `going_idle_ack`.
pub const DEFAULT_GOING_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default re-dial period while dormant.
pub const DEFAULT_DORMANT_REDIAL: Duration = Duration::from_secs(1);
/// Default longest redial hold.
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_secs(60);
/// Default drain grace of a deliberate disconnect.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Default largest frame (and partial line) accepted: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;
/// Default number of `bufferId`s remembered per link for dedupe.
pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;
/// Platform of the default identity (`relay:` with an empty bot id).
pub const DEFAULT_PLATFORM: &str = "relay";

/// The secret a replayed configuration carries when the recorded one had auth.
///
/// Traces never store the real secret; replay only needs *a* secret so that
/// the core takes the same decisions (tokens are minted, never compared).
pub const REPLAY_PLACEHOLDER_SECRET: &str = "replayed-secret";

/// A configuration value was refused; nothing was dialed.
///
/// Displays as `invalid configuration: <field>: <message>`. Messages never
/// contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {field}: {message}")]
pub struct ConfigError {
    field: &'static str,
    message: String,
}

impl ConfigError {
    /// An error about `field` (named as in the builder, e.g. `"gateway_id"`).
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The configuration field at fault, e.g. `"url"` or `"idle_timeout"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Normalises a connector base URL into the relay endpoint (contract §1).
///
/// Trims whitespace; maps `https://` to `wss://` and `http://` to `ws://`
/// (schemes are case-insensitive and come out lowercase); strips every
/// trailing `/`; appends `/relay` unless the path already ends with `/relay`.
/// Normalising a normalised URL returns it unchanged.
///
/// Refused (field `url`): an empty URL; a missing or unsupported scheme (only
/// `ws`, `wss`, `http`, `https`); a missing host; an invalid port; user info
/// (`user:pass@`: credentials belong in the secret, and the URL is recorded in
/// traces); whitespace inside the URL; a query string or fragment (the path
/// `/relay` is appended, so they could not be kept where they were written).
pub fn normalize_url(raw: &str) -> Result<String, ConfigError> {
    let err = |message: &str| ConfigError::new("url", message);
    let url = raw.trim();
    if url.is_empty() {
        return Err(err("must not be empty"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(err(
            "missing scheme (expected ws://, wss://, http:// or https://)",
        ));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => {
            return Err(err(
                "unsupported scheme (expected ws://, wss://, http:// or https://)",
            ))
        }
    };
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("must not contain whitespace"));
    }
    if rest.contains(['?', '#']) {
        return Err(err("query strings and fragments are not supported"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(err(
            "must not contain user info (credentials belong in the secret)",
        ));
    }
    let (host, port) = split_host_port(authority).map_err(err)?;
    if host.is_empty() {
        return Err(err("missing host"));
    }
    if let Some(port) = port {
        if port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(err("invalid port"));
        }
    }
    let path = path.trim_end_matches('/');
    let suffix = if path.ends_with("/relay") {
        ""
    } else {
        "/relay"
    };
    Ok(format!("{scheme}://{authority}{path}{suffix}"))
}

/// Splits `host[:port]`, with `[v6]` literals kept whole.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let Some(end) = authority.find(']') else {
            return Err("unterminated IPv6 address");
        };
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if rest.is_empty() => Ok((host, None)),
            None => Err("invalid host"),
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// One fronted identity: a platform and the bot id announced in its `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The platform, e.g. `discord`; never empty.
    pub platform: String,
    /// The bot id on that platform; may be empty.
    pub bot_id: String,
}

impl Identity {
    /// An identity from its parts.
    pub fn new(platform: impl Into<String>, bot_id: impl Into<String>) -> Self {
        Self {
            platform: platform.into(),
            bot_id: bot_id.into(),
        }
    }

    /// Parses the CLI form `PLATFORM:BOT_ID`, splitting on the first `:`.
    ///
    /// The platform must not be empty; the bot id may be (`relay:`). A value
    /// without `:` is refused (field `identities`).
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let Some((platform, bot_id)) = spec.split_once(':') else {
            return Err(ConfigError::new(
                "identities",
                format!("expected PLATFORM:BOT_ID, got {spec:?}"),
            ));
        };
        if platform.trim().is_empty() {
            return Err(ConfigError::new(
                "identities",
                format!("platform must not be empty in {spec:?}"),
            ));
        }
        Ok(Self::new(platform, bot_id))
    }

    /// The default identity: platform `relay`, empty bot id.
    pub fn default_identity() -> Self {
        Self::new(DEFAULT_PLATFORM, "")
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.bot_id)
    }
}

/// A validated link configuration.
///
/// Built with [`Config::builder`]. `Debug` is safe to log: the secret prints
/// as `Secret(<redacted>)`. Every value has a same-named accessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Normalised relay endpoint (`ws://…/relay` or `wss://…/relay`).
    pub(crate) url: String,
    /// Gateway id (never empty, never contains `:`).
    pub(crate) gateway_id: Option<String>,
    /// Shared secret (never blank: a blank one is stored as `None`).
    pub(crate) secret: Option<Secret>,
    /// Fronted identities, in `hello` order; never empty, platforms unique.
    pub(crate) identities: Vec<Identity>,
    /// First backoff step.
    pub(crate) backoff_base: Duration,
    /// Backoff cap (`>= backoff_base`).
    pub(crate) backoff_max: Duration,
    /// Handshaken time that resets the backoff.
    pub(crate) stable_after: Duration,
    /// Budget of one dial.
    pub(crate) connect_timeout: Duration,
    /// Wait for the first descriptor after the upgrade.
    pub(crate) handshake_timeout: Duration,
    /// Wait for an `outbound_result`.
    pub(crate) outbound_timeout: Duration,
    /// Keepalive ping period.
    pub(crate) ping_interval: Duration,
    /// Silence that declares a connection dead (`> ping_interval`).
    pub(crate) idle_timeout: Duration,
    /// Upgrade token lifetime in seconds (`<= 0`: tokens never expire).
    pub(crate) token_ttl_secs: i64,
    /// Wait for `going_idle_ack`.
    pub(crate) going_idle_timeout: Duration,
    /// Re-dial period while dormant.
    pub(crate) dormant_redial: Duration,
    /// Longest redial hold.
    pub(crate) max_hold: Duration,
    /// Drain grace of a deliberate disconnect (may be zero).
    pub(crate) drain_grace: Duration,
    /// Largest frame / partial line, in bytes.
    pub(crate) max_frame_size: usize,
    /// `bufferId`s remembered per link for dedupe.
    pub(crate) dedupe_capacity: usize,
}

impl Config {
    /// Starts a configuration for the connector at `url` (a base URL,
    /// normalised by [`normalize_url`] at build time), with every default.
    pub fn builder(url: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder::new(url)
    }

    /// Whether upgrades carry auth: a gateway id and a non-blank secret are
    /// both configured.
    pub fn auth_configured(&self) -> bool {
        self.gateway_id.is_some() && self.secret.is_some()
    }

    /// Mints a fresh upgrade token at `unix_now` (Unix seconds), or `None`
    /// when auth is not configured (the upgrade then carries no header).
    pub fn mint_token(&self, unix_now: i64) -> Option<Token> {
        match (&self.gateway_id, &self.secret) {
            (Some(id), Some(secret)) => {
                Some(token::mint_token(id, secret, unix_now, self.token_ttl_secs))
            }
            _ => None,
        }
    }

    /// The normalised relay endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The gateway id, if configured.
    pub fn gateway_id(&self) -> Option<&str> {
        self.gateway_id.as_deref()
    }

    /// The secret, if configured (a blank secret reads as `None`).
    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    /// The fronted identities in `hello` order; the first is the session default.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// First backoff step (default 1 s).
    pub fn backoff_base(&self) -> Duration {
        self.backoff_base
    }

    /// Backoff cap (default 30 s).
    pub fn backoff_max(&self) -> Duration {
        self.backoff_max
    }

    /// How long a connection must stay handshaken to reset the backoff (default 60 s).
    pub fn stable_after(&self) -> Duration {
        self.stable_after
    }

    /// Budget of one dial: TCP, TLS and upgrade (default 10 s).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Wait for the first descriptor after the upgrade (default 30 s).
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Wait for an `outbound_result` (default 30 s).
    pub fn outbound_timeout(&self) -> Duration {
        self.outbound_timeout
    }

    /// Keepalive ping period (default 30 s).
    pub fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// Silence after which a connection is dead (default 60 s).
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Upgrade token lifetime in seconds (default 300; `<= 0`: never expires).
    pub fn token_ttl_secs(&self) -> i64 {
        self.token_ttl_secs
    }

    /// Wait for `going_idle_ack` (default 10 s).
    pub fn going_idle_timeout(&self) -> Duration {
        self.going_idle_timeout
    }

    /// Re-dial period while dormant (default 1 s).
    pub fn dormant_redial(&self) -> Duration {
        self.dormant_redial
    }

    /// Longest redial hold (default 60 s).
    pub fn max_hold(&self) -> Duration {
        self.max_hold
    }

    /// Drain grace of a deliberate disconnect (default 5 s).
    pub fn drain_grace(&self) -> Duration {
        self.drain_grace
    }

    /// Largest frame or partial line, in bytes (default 16 MiB).
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// `bufferId`s remembered per link for dedupe (default 100 000).
    pub fn dedupe_capacity(&self) -> usize {
        self.dedupe_capacity
    }

    /// A secret-free, serialisable summary for trace headers.
    pub fn summary(&self) -> ConfigSummary {
        ConfigSummary {
            url: self.url.clone(),
            gateway_id: self.gateway_id.clone(),
            auth: self.auth_configured(),
            identities: self.identities.clone(),
            backoff_base_ms: millis(self.backoff_base),
            backoff_max_ms: millis(self.backoff_max),
            stable_after_ms: millis(self.stable_after),
            connect_timeout_ms: millis(self.connect_timeout),
            handshake_timeout_ms: millis(self.handshake_timeout),
            outbound_timeout_ms: millis(self.outbound_timeout),
            ping_interval_ms: millis(self.ping_interval),
            idle_timeout_ms: millis(self.idle_timeout),
            token_ttl_s: self.token_ttl_secs,
            going_idle_timeout_ms: millis(self.going_idle_timeout),
            dormant_redial_ms: millis(self.dormant_redial),
            max_hold_ms: millis(self.max_hold),
            drain_grace_ms: millis(self.drain_grace),
            max_frame_size: self.max_frame_size,
            dedupe_capacity: self.dedupe_capacity,
        }
    }
}

/// Whole milliseconds of `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Builds a [`Config`]; every value starts at its contract default.
///
/// `Debug` redacts the secret.
#[derive(Debug, Clone)]
#[must_use = "call build() to obtain a Config"]
pub struct ConfigBuilder {
    url: String,
    gateway_id: Option<String>,
    secret: Option<Secret>,
    identities: Vec<Identity>,
    backoff_base: Duration,
    backoff_max: Duration,
    stable_after: Duration,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    outbound_timeout: Duration,
    ping_interval: Duration,
    idle_timeout: Duration,
    token_ttl_secs: i64,
    going_idle_timeout: Duration,
    dormant_redial: Duration,
    max_hold: Duration,
    drain_grace: Duration,
    max_frame_size: usize,
    dedupe_capacity: usize,
}

macro_rules! duration_setters {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: Duration) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

impl ConfigBuilder {
    /// Same as [`Config::builder`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            gateway_id: None,
            secret: None,
            identities: Vec::new(),
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            stable_after: DEFAULT_STABLE_AFTER,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            outbound_timeout: DEFAULT_OUTBOUND_TIMEOUT,
            ping_interval: DEFAULT_PING_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            token_ttl_secs: DEFAULT_TOKEN_TTL_SECS,
            going_idle_timeout: DEFAULT_GOING_IDLE_TIMEOUT,
            dormant_redial: DEFAULT_DORMANT_REDIAL,
            max_hold: DEFAULT_MAX_HOLD,
            drain_grace: DEFAULT_DRAIN_GRACE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
        }
    }

    /// The gateway id; must be non-empty and free of `:`.
    pub fn gateway_id(mut self, gateway_id: impl Into<String>) -> Self {
        self.gateway_id = Some(gateway_id.into());
        self
    }

    /// The shared secret; a blank one (empty or whitespace) counts as absent.
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Appends a fronted identity. Once any identity is given, the default
    /// `relay:` identity is not used.
    pub fn identity(mut self, platform: impl Into<String>, bot_id: impl Into<String>) -> Self {
        self.identities.push(Identity::new(platform, bot_id));
        self
    }

    /// Replaces the fronted identities; an empty list means the default
    /// `relay:` identity.
    pub fn identities(mut self, identities: Vec<Identity>) -> Self {
        self.identities = identities;
        self
    }

    duration_setters! {
        /// First backoff step (default 1 s); must be positive.
        backoff_base;
        /// Backoff cap (default 30 s); must be at least `backoff_base`.
        backoff_max;
        /// Handshaken time that resets the backoff (default 60 s); must be positive.
        stable_after;
        /// Budget of one dial (default 10 s); must be positive.
        connect_timeout;
        /// Wait for the first descriptor (default 30 s); must be positive.
        handshake_timeout;
        /// Wait for an `outbound_result` (default 30 s); must be positive.
        outbound_timeout;
        /// Keepalive ping period (default 30 s); must be positive.
        ping_interval;
        /// Silence that declares a connection dead (default 60 s); must exceed
        /// `ping_interval`.
        idle_timeout;
        /// Wait for `going_idle_ack` (default 10 s); must be positive.
        going_idle_timeout;
        /// Re-dial period while dormant (default 1 s); must be positive.
        dormant_redial;
        /// Longest redial hold (default 60 s); must be positive.
        max_hold;
        /// Drain grace of a deliberate disconnect (default 5 s); zero closes
        /// at once.
        drain_grace;
    }

    /// Upgrade token lifetime in seconds (default 300); `<= 0` signs
    /// never-expiring tokens (`exp = 0`).
    pub fn token_ttl_secs(mut self, ttl_secs: i64) -> Self {
        self.token_ttl_secs = ttl_secs;
        self
    }

    /// Largest frame or partial line in bytes (default 16 MiB); must be positive.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// `bufferId`s remembered per link (default 100 000); must be positive.
    pub fn dedupe_capacity(mut self, capacity: usize) -> Self {
        self.dedupe_capacity = capacity;
        self
    }

    /// Validates and builds the configuration; reports the first problem.
    ///
    /// Refused, naming the field: an invalid URL (see [`normalize_url`]); an
    /// empty gateway id or one containing `:`; an identity with an empty
    /// platform or a platform listed twice (`botId` follows the identity
    /// hello'd for a platform, so duplicates would be ambiguous); a zero
    /// timing (except `drain_grace`); `backoff_max < backoff_base`;
    /// `idle_timeout <= ping_interval` (the link would declare a quiet but
    /// healthy connection dead before a ping could be answered); a zero
    /// `max_frame_size` or `dedupe_capacity`. A blank secret is not an error:
    /// it counts as absent.
    pub fn build(self) -> Result<Config, ConfigError> {
        let url = normalize_url(&self.url)?;

        if let Some(id) = &self.gateway_id {
            if id.trim().is_empty() {
                return Err(ConfigError::new("gateway_id", "must not be empty"));
            }
            if id.contains(':') {
                return Err(ConfigError::new("gateway_id", "must not contain ':'"));
            }
        }
        let secret = self.secret.filter(|s| !s.is_blank());

        let identities = if self.identities.is_empty() {
            vec![Identity::default_identity()]
        } else {
            self.identities
        };
        let mut seen = HashSet::new();
        for identity in &identities {
            if identity.platform.trim().is_empty() {
                return Err(ConfigError::new("identities", "platform must not be empty"));
            }
            if !seen.insert(identity.platform.as_str()) {
                return Err(ConfigError::new(
                    "identities",
                    format!("platform {:?} is listed more than once", identity.platform),
                ));
            }
        }

        for (field, value) in [
            ("backoff_base", self.backoff_base),
            ("backoff_max", self.backoff_max),
            ("stable_after", self.stable_after),
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("outbound_timeout", self.outbound_timeout),
            ("ping_interval", self.ping_interval),
            ("idle_timeout", self.idle_timeout),
            ("going_idle_timeout", self.going_idle_timeout),
            ("dormant_redial", self.dormant_redial),
            ("max_hold", self.max_hold),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(field, "must be greater than zero"));
            }
        }
        if self.backoff_max < self.backoff_base {
            return Err(ConfigError::new(
                "backoff_max",
                "must be at least backoff_base",
            ));
        }
        if self.idle_timeout <= self.ping_interval {
            return Err(ConfigError::new(
                "idle_timeout",
                "must be greater than ping_interval",
            ));
        }
        if self.max_frame_size == 0 {
            return Err(ConfigError::new(
                "max_frame_size",
                "must be greater than zero",
            ));
        }
        if self.dedupe_capacity == 0 {
            return Err(ConfigError::new(
                "dedupe_capacity",
                "must be greater than zero",
            ));
        }

        Ok(Config {
            url,
            gateway_id: self.gateway_id,
            secret,
            identities,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            stable_after: self.stable_after,
            connect_timeout: self.connect_timeout,
            handshake_timeout: self.handshake_timeout,
            outbound_timeout: self.outbound_timeout,
            ping_interval: self.ping_interval,
            idle_timeout: self.idle_timeout,
            token_ttl_secs: self.token_ttl_secs,
            going_idle_timeout: self.going_idle_timeout,
            dormant_redial: self.dormant_redial,
            max_hold: self.max_hold,
            drain_grace: self.drain_grace,
            max_frame_size: self.max_frame_size,
            dedupe_capacity: self.dedupe_capacity,
        })
    }
}

/// A secret-free, serialisable view of a [`Config`], for trace headers.
///
/// Durations are whole milliseconds (`_ms`; sub-millisecond parts are
/// dropped), the token lifetime is in seconds. The secret is never stored:
/// `auth` only records whether one was configured. When reading, a missing
/// field takes its contract default, so hand-written traces stay short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigSummary {
    /// Normalised relay endpoint.
    pub url: String,
    /// Gateway id, if configured.
    pub gateway_id: Option<String>,
    /// Whether upgrades carried auth (gateway id and secret both configured).
    pub auth: bool,
    /// Fronted identities, in `hello` order.
    pub identities: Vec<Identity>,
    /// First backoff step.
    pub backoff_base_ms: u64,
    /// Backoff cap.
    pub backoff_max_ms: u64,
    /// Handshaken time that resets the backoff.
    pub stable_after_ms: u64,
    /// Budget of one dial.
    pub connect_timeout_ms: u64,
    /// Wait for the first descriptor.
    pub handshake_timeout_ms: u64,
    /// Wait for an `outbound_result`.
    pub outbound_timeout_ms: u64,
    /// Keepalive ping period.
    pub ping_interval_ms: u64,
    /// Silence that declares a connection dead.
    pub idle_timeout_ms: u64,
    /// Upgrade token lifetime, in seconds.
    pub token_ttl_s: i64,
    /// Wait for `going_idle_ack`.
    pub going_idle_timeout_ms: u64,
    /// Re-dial period while dormant.
    pub dormant_redial_ms: u64,
    /// Longest redial hold.
    pub max_hold_ms: u64,
    /// Drain grace of a deliberate disconnect.
    pub drain_grace_ms: u64,
    /// Largest frame or partial line, in bytes.
    pub max_frame_size: usize,
    /// `bufferId`s remembered per link for dedupe.
    pub dedupe_capacity: usize,
}

impl Default for ConfigSummary {
    /// The contract defaults, with an empty (invalid) URL and no auth.
    fn default() -> Self {
        Self {
            url: String::new(),
            gateway_id: None,
            auth: false,
            identities: vec![Identity::default_identity()],
            backoff_base_ms: millis(DEFAULT_BACKOFF_BASE),
            backoff_max_ms: millis(DEFAULT_BACKOFF_MAX),
            stable_after_ms: millis(DEFAULT_STABLE_AFTER),
            connect_timeout_ms: millis(DEFAULT_CONNECT_TIMEOUT),
            handshake_timeout_ms: millis(DEFAULT_HANDSHAKE_TIMEOUT),
            outbound_timeout_ms: millis(DEFAULT_OUTBOUND_TIMEOUT),
            ping_interval_ms: millis(DEFAULT_PING_INTERVAL),
            idle_timeout_ms: millis(DEFAULT_IDLE_TIMEOUT),
            token_ttl_s: DEFAULT_TOKEN_TTL_SECS,
            going_idle_timeout_ms: millis(DEFAULT_GOING_IDLE_TIMEOUT),
            dormant_redial_ms: millis(DEFAULT_DORMANT_REDIAL),
            max_hold_ms: millis(DEFAULT_MAX_HOLD),
            drain_grace_ms: millis(DEFAULT_DRAIN_GRACE),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
        }
    }
}

impl ConfigSummary {
    /// Rebuilds a configuration that makes a replayed core behave as the
    /// recorded one.
    ///
    /// When `auth` is true the secret is [`REPLAY_PLACEHOLDER_SECRET`]: the
    /// real secret is never stored, so replayed tokens differ from the
    /// recorded ones, but every decision the core takes is the same. The
    /// result is validated like any other configuration; `auth` without a
    /// gateway id is refused (field `auth`).
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let ms = Duration::from_millis;
        let mut builder = Config::builder(self.url.clone())
            .identities(self.identities.clone())
            .backoff_base(ms(self.backoff_base_ms))
            .backoff_max(ms(self.backoff_max_ms))
            .stable_after(ms(self.stable_after_ms))
            .connect_timeout(ms(self.connect_timeout_ms))
            .handshake_timeout(ms(self.handshake_timeout_ms))
            .outbound_timeout(ms(self.outbound_timeout_ms))
            .ping_interval(ms(self.ping_interval_ms))
            .idle_timeout(ms(self.idle_timeout_ms))
            .token_ttl_secs(self.token_ttl_s)
            .going_idle_timeout(ms(self.going_idle_timeout_ms))
            .dormant_redial(ms(self.dormant_redial_ms))
            .max_hold(ms(self.max_hold_ms))
            .drain_grace(ms(self.drain_grace_ms))
            .max_frame_size(self.max_frame_size)
            .dedupe_capacity(self.dedupe_capacity);
        if let Some(id) = &self.gateway_id {
            builder = builder.gateway_id(id.clone());
        }
        if self.auth {
            if self.gateway_id.is_none() {
                return Err(ConfigError::new("auth", "auth requires a gateway_id"));
            }
            builder = builder.secret(REPLAY_PLACEHOLDER_SECRET);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
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
}
