//! URL normalisation (contract §1).

use super::ConfigError;

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
