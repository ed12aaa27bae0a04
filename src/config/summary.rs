//! [`ConfigSummary`]: the secret-free configuration in trace headers.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// A secret-free, serialisable view of a [`Config`], for trace headers.
///
/// Durations are whole milliseconds (`_ms`; sub-millisecond parts are
/// dropped), the token lifetime is in seconds. The secret is never stored:
/// `auth` only records whether one was configured. An identity's extra
/// `hello` fields are large and decide nothing, so only their keys are
/// kept ([`IdentitySummary`]). When reading, a missing field takes its
/// contract default, so hand-written traces stay short.
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
    pub identities: Vec<IdentitySummary>,
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
            identities: vec![IdentitySummary::of(&Identity::default_identity())],
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
    /// recorded ones, but every decision the core takes is the same.
    /// Likewise the identities come back without their extra `hello` fields
    /// (only the keys were kept): the replayed `hello` frames carry
    /// `platform` and `botId` alone, and nothing else changes. The
    /// result is validated like any other configuration; `auth` without a
    /// gateway id is refused (field `auth`).
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let ms = Duration::from_millis;
        let mut builder = Config::builder(self.url.clone())
            .identities(
                self.identities
                    .iter()
                    .map(IdentitySummary::identity)
                    .collect(),
            )
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

/// One fronted identity in a [`ConfigSummary`]: its platform, its bot id
/// and the keys (never the values) of its extra `hello` fields.
///
/// Serialises as `{"platform":…,"bot_id":…}`, plus `"hello_extras":[keys]`
/// when there are any, so headers written before extras existed read the
/// same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdentitySummary {
    /// The platform.
    pub platform: String,
    /// The bot id.
    pub bot_id: String,
    /// The keys of the identity's extra `hello` fields, in the map's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hello_extras: Vec<String>,
}

impl IdentitySummary {
    /// The summary of `identity`.
    pub fn of(identity: &Identity) -> Self {
        Self {
            platform: identity.platform.clone(),
            bot_id: identity.bot_id.clone(),
            hello_extras: identity.hello_extras.keys().cloned().collect(),
        }
    }

    /// The identity a replay uses: platform and bot id, no extras.
    pub fn identity(&self) -> Identity {
        Identity::new(self.platform.clone(), self.bot_id.clone())
    }
}
