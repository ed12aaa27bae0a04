//! Credentials: the shared [`Secret`] and the upgrade [`Token`] minted from it.
//!
//! The token format is fixed by the connector (relay contract §1) and must
//! match it byte for byte:
//!
//! ```text
//! exp    = unix_seconds_now + ttl          (ttl <= 0 gives exp = 0, "never")
//! signed = "<gateway_id>:<exp>"
//! sig    = lowercase hex of HMAC-SHA256(key = secret, message = signed)
//! token  = base64url-no-pad("<signed>:<sig>")
//! ```
//!
//! Both types are credentials: their `Debug` and `Display` output is redacted
//! and neither implements `Serialize`, so they cannot leak into logs or
//! recorded traces by accident. Reading the value takes an explicit
//! `expose()` call, which keeps every use easy to audit.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What redacted credentials print instead of their value.
const REDACTED: &str = "<redacted>";

/// The gateway's shared secret, used as the HMAC key of upgrade tokens.
///
/// `Debug` prints `Secret(<redacted>)` and `Display` prints `<redacted>`;
/// the value is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret in clear. Use it only to compute a signature.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty or only whitespace.
    ///
    /// A blank secret counts as *no* secret (relay contract §1).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

/// An upgrade token, sent as `Authorization: Bearer <token>`.
///
/// `Debug` prints `Token(<redacted>)` and `Display` prints `<redacted>`;
/// the value is only reachable through [`Token::expose`] and
/// [`Token::bearer_header_value`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: String,
    expires_at: i64,
}

impl Token {
    /// The token in clear, as carried on the wire.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The value of the `Authorization` header: `Bearer <token>`.
    pub fn bearer_header_value(&self) -> String {
        format!("Bearer {}", self.value)
    }

    /// The signed expiry, in Unix seconds; `0` means the token never expires.
    ///
    /// Not a secret: it is also readable in the token itself.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({REDACTED})")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The expiry signed into a token minted at `unix_now` with `ttl_secs`.
///
/// `unix_now + ttl_secs` (saturating), or `0` ("never") when
/// `ttl_secs <= 0`.
pub fn token_expiry(unix_now: i64, ttl_secs: i64) -> i64 {
    if ttl_secs <= 0 {
        0
    } else {
        unix_now.saturating_add(ttl_secs)
    }
}

/// Mints an upgrade token for `gateway_id`, exactly as the connector verifies it.
///
/// `unix_now` is the current time in Unix seconds, supplied by the caller (the
/// core never reads a clock); the token expires at
/// [`token_expiry(unix_now, ttl_secs)`](token_expiry).
///
/// The gateway id must not contain `:` (the connector splits on the first
/// one); [`Config`](crate::config::Config) refuses such ids before anything
/// dials.
pub fn mint_token(gateway_id: &str, secret: &Secret, unix_now: i64, ttl_secs: i64) -> Token {
    let expires_at = token_expiry(unix_now, ttl_secs);
    let signed = format!("{gateway_id}:{expires_at}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(signed.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    Token {
        value: URL_SAFE_NO_PAD.encode(format!("{signed}:{sig}")),
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_RAW: &str =
        "gw-x:1700000300:6caa806ff007a2ae3c2decc6d091ae16f5164e32b13b5a013d713b4b9f0b1c48";
    const VECTOR_TOKEN: &str = "Z3cteDoxNzAwMDAwMzAwOjZjYWE4MDZmZjAwN2EyYWUzYzJkZWNjNmQwOTFhZTE2ZjUxNjRlMzJiMTNiNWEwMTNkNzEzYjRiOWYwYjFjNDg";

    fn decode(token: &Token) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(token.expose()).unwrap()).unwrap()
    }

    #[test]
    fn the_contract_test_vector_is_reproduced_byte_for_byte() {
        let token = mint_token("gw-x", &Secret::new("secret-x"), 1_700_000_000, 300);
        assert_eq!(token.expose(), VECTOR_TOKEN);
        assert_eq!(decode(&token), VECTOR_RAW);
        assert_eq!(token.expires_at(), 1_700_000_300);
    }

    #[test]
    fn the_bearer_header_value_prefixes_the_token() {
        let token = mint_token("gw-x", &Secret::new("secret-x"), 1_700_000_000, 300);
        assert_eq!(
            token.bearer_header_value(),
            format!("Bearer {VECTOR_TOKEN}")
        );
    }

    #[test]
    fn a_non_positive_ttl_signs_expiry_zero() {
        for ttl in [0, -1, i64::MIN] {
            let token = mint_token("gw-x", &Secret::new("secret-x"), 1_700_000_000, ttl);
            assert_eq!(token.expires_at(), 0);
            assert!(decode(&token).starts_with("gw-x:0:"), "ttl {ttl}");
        }
        assert_eq!(token_expiry(1_700_000_000, 0), 0);
    }

    #[test]
    fn a_huge_ttl_saturates_instead_of_overflowing() {
        assert_eq!(token_expiry(i64::MAX - 1, 300), i64::MAX);
    }

    #[test]
    fn the_token_has_no_padding_and_uses_the_url_safe_alphabet() {
        for now in 0..64 {
            let token = mint_token("gw-é?>", &Secret::new("s"), now, 300);
            assert!(token
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }

    #[test]
    fn a_different_time_gives_a_different_token() {
        let secret = Secret::new("secret-x");
        let a = mint_token("gw-x", &secret, 1_700_000_000, 300);
        let b = mint_token("gw-x", &secret, 1_700_000_001, 300);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(b.expires_at(), 1_700_000_301);
    }

    #[test]
    fn a_different_secret_gives_a_different_signature() {
        let a = mint_token("gw-x", &Secret::new("secret-x"), 1_700_000_000, 300);
        let b = mint_token("gw-x", &Secret::new("secret-y"), 1_700_000_000, 300);
        assert_ne!(a, b);
    }

    #[test]
    fn secret_debug_and_display_never_show_the_secret() {
        let secret = Secret::new("hunter2-very-secret");
        let debug = format!("{secret:?}");
        let display = format!("{secret}");
        assert_eq!(debug, "Secret(<redacted>)");
        assert_eq!(display, "<redacted>");
        assert!(!debug.contains("hunter2") && !display.contains("hunter2"));
        assert!(!format!("{:?}", Some(secret.clone())).contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn token_debug_and_display_never_show_the_token_or_the_secret() {
        let token = mint_token("gw-x", &Secret::new("secret-x"), 1_700_000_000, 300);
        for shown in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{token:#?}"),
        ] {
            assert!(!shown.contains(VECTOR_TOKEN), "{shown}");
            assert!(!shown.contains(&VECTOR_TOKEN[..12]), "{shown}");
            assert!(!shown.contains("secret-x"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn blank_secrets_are_detected() {
        assert!(Secret::new("").is_blank());
        assert!(Secret::new(" \t\n").is_blank());
        assert!(!Secret::new(" x ").is_blank());
    }
}
