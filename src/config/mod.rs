//! Link configuration: the connector URL, the credentials, the fronted
//! identities and every timing of the relay contract.
//!
//! A [`Config`] is only obtained through [`ConfigBuilder::build`], which
//! validates everything *before* anything dials; a `Config` value is
//! therefore always usable. [`Config::summary`] gives a secret-free,
//! serialisable [`ConfigSummary`] for trace headers, and
//! [`ConfigSummary::to_config`] turns it back into a `Config` for replay.
//!
//! ```
//! use std::time::Duration;
//! use relay_link::config::Config;
//!
//! let config = Config::builder("https://connector.example")
//!     .gateway_id("gw-1")
//!     .secret("s3cret")
//!     .identity("slack", "B01")
//!     .ping_interval(Duration::from_secs(20))
//!     .build()?;
//! assert_eq!(config.url(), "wss://connector.example/relay");
//!
//! // Refused before anything dials, naming the field.
//! let refused = Config::builder("https://connector.example").gateway_id("gw:1").build();
//! assert!(refused.unwrap_err().to_string().contains("gateway"));
//! # Ok::<(), relay_link::config::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::protocol::OutgoingFrame;
use crate::token::{self, Secret, Token};

mod builder;
#[cfg(test)]
mod hello_extras_tests;
mod summary;
#[cfg(test)]
mod tests;
mod url;

pub use builder::ConfigBuilder;
pub use summary::{ConfigSummary, IdentitySummary};
pub use url::normalize_url;

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
/// Most buffered deliveries that may await the application's acceptance at
/// once. They are never forgotten (an ack is owed for each), so they are
/// bounded apart from [`DEFAULT_DEDUPE_CAPACITY`]: past this bound a new
/// `bufferId` is neither delivered nor acked (counted in
/// [`Stats::deferred_deliveries`](crate::Stats::deferred_deliveries)); the
/// connector keeps it buffered and delivers it again later.
pub const MAX_UNACCEPTED_DELIVERIES: usize = 4_096;
/// Longest `bufferId` accepted, in bytes. The connector's ids are short
/// tokens; a frame with a longer one is skipped as malformed
/// ([`Stats::malformed_lines`](crate::Stats::malformed_lines)).
pub const MAX_BUFFER_ID_LEN: usize = 256;
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
/// One fronted identity: a platform, the bot id announced in its `hello`,
/// and any extra fields that `hello` carries.
///
/// The extra fields ([`hello_extras`](Identity::hello_extras)) are written
/// into the identity's `hello` after `platform` and `botId` and passed
/// through untouched: the upstream gateway sends a `command_manifest` with
/// its Discord hello, and a relevance policy, and connectors rely on them.
/// A key that the contract's `hello` already has (`type`, `platform`,
/// `botId`; [`HELLO_KEYS`](crate::protocol::HELLO_KEYS)) is refused by
/// [`ConfigBuilder::build`], naming the identity and the key, rather than
/// silently overriding either side.
///
/// `Debug` shows the extras' keys only (they can be large); they are not
/// secret.
///
/// ```
/// use relay_link::config::{Config, Identity};
/// use serde_json::json;
///
/// let discord = Identity::new("discord", "bot-1")
///     .hello_extra("command_manifest", json!([{"name": "ask"}]))
///     .hello_extra("relevance", json!({"mode": "mentions"}));
/// let config = Config::builder("https://connector.example")
///     .add_identity(discord)
///     .build()?;
/// assert_eq!(
///     config.identities()[0].hello().to_line(),
///     "{\"type\":\"hello\",\"platform\":\"discord\",\"botId\":\"bot-1\",\
///      \"command_manifest\":[{\"name\":\"ask\"}],\"relevance\":{\"mode\":\"mentions\"}}\n"
/// );
///
/// // A contract field cannot be overridden: refused before anything dials.
/// let clash = Config::builder("https://connector.example")
///     .add_identity(Identity::new("slack", "B1").hello_extra("botId", json!("other")))
///     .build()
///     .unwrap_err();
/// assert_eq!(clash.field(), "identities");
/// assert!(clash.message().contains("slack:B1") && clash.message().contains("botId"));
/// # Ok::<(), relay_link::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// The platform, e.g. `discord`; never empty.
    pub platform: String,
    /// The bot id on that platform; may be empty.
    pub bot_id: String,
    /// Extra fields of this identity's `hello` (written in the map's key
    /// order); none by default.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub hello_extras: Map<String, Value>,
}

impl Identity {
    /// An identity from its parts, without extra `hello` fields.
    pub fn new(platform: impl Into<String>, bot_id: impl Into<String>) -> Self {
        Self {
            platform: platform.into(),
            bot_id: bot_id.into(),
            hello_extras: Map::new(),
        }
    }

    /// Adds (or replaces) the extra `hello` field `key`.
    #[must_use]
    pub fn hello_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.hello_extras.insert(key.into(), value.into());
        self
    }

    /// Adds (or replaces) every field of `extras`.
    #[must_use]
    pub fn hello_extras(mut self, extras: Map<String, Value>) -> Self {
        self.hello_extras.extend(extras);
        self
    }

    /// The `hello` frame announcing this identity.
    pub fn hello(&self) -> OutgoingFrame {
        OutgoingFrame::Hello {
            platform: self.platform.clone(),
            bot_id: self.bot_id.clone(),
            extra: self.hello_extras.clone(),
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

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("platform", &self.platform)
            .field("bot_id", &self.bot_id)
            .field("hello_extras", &ExtraKeys(&self.hello_extras))
            .finish()
    }
}

/// Shows a map's keys only, as a list.
struct ExtraKeys<'a>(&'a Map<String, Value>);

impl fmt::Debug for ExtraKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
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
            identities: self.identities.iter().map(IdentitySummary::of).collect(),
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
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
