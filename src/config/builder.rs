//! [`ConfigBuilder`]: every setting, validated before anything dials.

use std::collections::HashSet;
use std::time::Duration;

use super::*;
use crate::protocol::HELLO_KEYS;
use crate::requests::line_fits;
use crate::token::Secret;

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

    /// Appends a fronted identity built in full, e.g. with extra `hello`
    /// fields ([`Identity::hello_extra`]).
    pub fn add_identity(mut self, identity: Identity) -> Self {
        self.identities.push(identity);
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
    /// hello'd for a platform, so duplicates would be ambiguous); an extra
    /// `hello` field named like one of the contract's (`type`, `platform`,
    /// `botId`), or extras that make the `hello` longer than
    /// `max_frame_size` (the connector would close with 1009 on every
    /// connection; both name the identity); a zero
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
            if let Some(key) = identity
                .hello_extras
                .keys()
                .find(|key| HELLO_KEYS.contains(&key.as_str()))
            {
                return Err(ConfigError::new(
                    "identities",
                    format!(
                        "identity {identity}: hello extra {key:?} would override the contract's \
                         hello field (extras may not use {HELLO_KEYS:?})"
                    ),
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
        if let Some(identity) = identities
            .iter()
            .find(|identity| !line_fits(&identity.hello(), self.max_frame_size))
        {
            return Err(ConfigError::new(
                "identities",
                format!(
                    "identity {identity}: its hello (with its extras) is longer than \
                     max_frame_size ({} bytes)",
                    self.max_frame_size
                ),
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
