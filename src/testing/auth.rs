//! Verifying upgrade tokens the way the connector does (relay contract §1).
//!
//! The token is `base64url-no-pad("<gateway_id>:<exp>:<hex sig>")`. The
//! gateway id cannot contain `:`, so the id is everything before the *first*
//! `:`; the signed string is everything before the last field. Nothing here
//! keeps, prints or returns the token or the secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::token::Secret;

/// The decoded fields of an upgrade token. Deliberately not `Debug`: the
/// signature is part of a credential.
pub(super) struct Claims {
    /// The gateway id before the first `:`.
    pub(super) gateway_id: String,
    /// The signed expiry (`0` = never).
    pub(super) exp: i64,
    /// `"<gateway_id>:<exp>"` exactly as it was signed.
    signed: String,
    /// The signature, hex-decoded.
    sig: Vec<u8>,
}

impl Claims {
    /// Whether the signature is HMAC-SHA256(`secret`, signed), compared in
    /// constant time.
    pub(super) fn signed_by(&self, secret: &Secret) -> bool {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
            return false;
        };
        mac.update(self.signed.as_bytes());
        mac.verify_slice(&self.sig).is_ok()
    }

    /// Whether the token aged out at `unix_now` (`exp != 0 && exp < now`).
    pub(super) fn expired_at(&self, unix_now: i64) -> bool {
        self.exp != 0 && self.exp < unix_now
    }
}

/// The token of an `Authorization: Bearer <token>` header value (the scheme
/// is matched case-insensitively), or `None`.
pub(super) fn bearer(header: &str) -> Option<&str> {
    let header = header.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Decodes a token into its claims; `None` when it is not a well-formed
/// token (bad base64, padding, missing fields, a non-decimal expiry or a
/// signature that is not 64 lowercase hex digits).
pub(super) fn decode(token: &str) -> Option<Claims> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (gateway_id, rest) = raw.split_once(':')?;
    let (exp_text, sig_hex) = rest.split_once(':')?;
    let exp_digits = exp_text.strip_prefix('-').unwrap_or(exp_text);
    if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exp = exp_text.parse::<i64>().ok()?;
    if sig_hex.len() != 64
        || !sig_hex
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let sig = hex::decode(sig_hex).ok()?;
    Some(Claims {
        gateway_id: gateway_id.to_owned(),
        exp,
        signed: format!("{gateway_id}:{exp_text}"),
        sig,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::mint_token;

    const VECTOR_TOKEN: &str = "Z3cteDoxNzAwMDAwMzAwOjZjYWE4MDZmZjAwN2EyYWUzYzJkZWNjNmQwOTFhZTE2ZjUxNjRlMzJiMTNiNWEwMTNkNzEzYjRiOWYwYjFjNDg";

    #[test]
    fn the_contract_test_vector_verifies() {
        let claims = decode(VECTOR_TOKEN).expect("well-formed");
        assert_eq!(claims.gateway_id, "gw-x");
        assert_eq!(claims.exp, 1_700_000_300);
        assert!(claims.signed_by(&Secret::new("secret-x")));
        assert!(!claims.signed_by(&Secret::new("secret-y")));
        assert!(claims.expired_at(1_700_000_301));
        assert!(!claims.expired_at(1_700_000_300));
    }

    #[test]
    fn a_minted_never_expiring_token_verifies_and_never_expires() {
        let token = mint_token("gw-1", &Secret::new("s"), 1_700_000_000, 0);
        let claims = decode(token.expose()).expect("well-formed");
        assert_eq!(claims.exp, 0);
        assert!(claims.signed_by(&Secret::new("s")));
        assert!(!claims.expired_at(i64::MAX));
    }

    #[test]
    fn the_bearer_scheme_is_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn malformed_tokens_do_not_decode() {
        let enc = |raw: &str| URL_SAFE_NO_PAD.encode(raw);
        let sig = "a".repeat(64);
        assert!(decode(&enc(&format!("gw:1:{sig}"))).is_some());
        assert!(decode("!!!").is_none());
        assert!(decode(&format!("{VECTOR_TOKEN}==")).is_none(), "padding");
        assert!(decode(&enc("gw")).is_none());
        assert!(decode(&enc("gw:1")).is_none());
        assert!(decode(&enc(&format!("gw::{sig}"))).is_none());
        assert!(decode(&enc(&format!("gw:+1:{sig}"))).is_none());
        assert!(decode(&enc(&format!("gw:1x:{sig}"))).is_none());
        assert!(decode(&enc(&format!("gw:1:{}", "A".repeat(64)))).is_none());
        assert!(decode(&enc(&format!("gw:1:{}", "a".repeat(63)))).is_none());
        assert!(decode(&enc("gw:99999999999999999999:aa")).is_none());
    }

    #[test]
    fn an_id_with_a_colon_is_split_at_the_first_colon() {
        // "a:b:1:<sig>" claims gateway "a" with expiry "b", which is invalid.
        let raw = format!("a:b:1:{}", "a".repeat(64));
        assert!(decode(&URL_SAFE_NO_PAD.encode(raw)).is_none());
    }
}
