//! Configuration errors in the command line's words: the flag and the value
//! as given (`--ping-interval-ms 60000 must be less than --idle-timeout-ms
//! 60000`), where the library names its own fields (`idle_timeout`).

use relay_link::config::ConfigError;

/// What `connect` was given, as the flags that set each configuration
/// field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Given<'a> {
    /// `--url`.
    pub(crate) url: &'a str,
    /// `--gateway-id`.
    pub(crate) gateway_id: Option<&'a str>,
    /// The `--…-ms` flags: (configuration field, flag, value).
    pub(crate) millis: &'a [(&'static str, &'static str, u64)],
}

impl Given<'_> {
    fn millis(&self, field: &str) -> Option<(&'static str, u64)> {
        self.millis
            .iter()
            .find(|(f, _, _)| *f == field)
            .map(|&(_, flag, value)| (flag, value))
    }
}

/// The message for a refused configuration, naming the flag and its value.
/// A field no flag sets keeps the library's wording.
pub(crate) fn describe(error: &ConfigError, given: &Given<'_>) -> String {
    let message = error.message();
    let field = error.field();
    let text = match field {
        "url" => format!("--url {:?}: {message}", without_userinfo(given.url)),
        "gateway_id" => format!(
            "--gateway-id {:?} {message}",
            given.gateway_id.unwrap_or_default()
        ),
        // The library's message names the identity already.
        "identities" => format!("--identity: {message}"),
        _ => match given.millis(field) {
            Some(flag_value) => millis_message(field, flag_value, message, given),
            None => return error.to_string(),
        },
    };
    format!("invalid configuration: {text}")
}

/// A refused `--…-ms` value: zero, or out of order with its partner.
fn millis_message(
    field: &str,
    (flag, value): (&'static str, u64),
    message: &str,
    given: &Given<'_>,
) -> String {
    if value == 0 {
        return format!("{flag} 0 must be greater than zero");
    }
    match (
        field,
        given.millis("backoff_base"),
        given.millis("ping_interval"),
    ) {
        ("backoff_max", Some((base_flag, base)), _) if value < base => {
            format!("{flag} {value} must be at least {base_flag} {base}")
        }
        ("idle_timeout", _, Some((ping_flag, ping))) if value <= ping => {
            format!("{ping_flag} {ping} must be less than {flag} {value}")
        }
        _ => format!("{flag} {value}: {message}"),
    }
}

/// The URL with any user info (`user:password@`) masked: an error message
/// must not carry a credential, and the library refuses such URLs.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{scheme}…{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use relay_link::config::{Config, ConfigError};

    use super::{describe, Given};

    const MILLIS: &[(&str, &str, u64)] = &[
        ("backoff_base", "--backoff-base-ms", 500),
        ("backoff_max", "--backoff-max-ms", 100),
        ("connect_timeout", "--connect-timeout-ms", 0),
        ("ping_interval", "--ping-interval-ms", 60000),
        ("idle_timeout", "--idle-timeout-ms", 60000),
    ];

    fn given(url: &str) -> Given<'_> {
        Given {
            url,
            gateway_id: Some("gw:1"),
            millis: MILLIS,
        }
    }

    fn said(field: &'static str) -> String {
        describe(&ConfigError::new(field, "library words"), &given("ws://h"))
    }

    #[test]
    fn an_idle_timeout_not_above_the_ping_interval_names_both_flags_and_values() {
        assert_eq!(
            said("idle_timeout"),
            "invalid configuration: --ping-interval-ms 60000 must be less than --idle-timeout-ms 60000"
        );
    }

    #[test]
    fn a_backoff_cap_below_its_base_names_both_flags_and_values() {
        assert_eq!(
            said("backoff_max"),
            "invalid configuration: --backoff-max-ms 100 must be at least --backoff-base-ms 500"
        );
    }

    #[test]
    fn a_zero_duration_names_its_flag() {
        assert_eq!(
            said("connect_timeout"),
            "invalid configuration: --connect-timeout-ms 0 must be greater than zero"
        );
    }

    #[test]
    fn strings_are_quoted_after_their_flag() {
        assert_eq!(
            said("gateway_id"),
            r#"invalid configuration: --gateway-id "gw:1" library words"#
        );
        assert_eq!(
            said("url"),
            r#"invalid configuration: --url "ws://h": library words"#
        );
        assert_eq!(
            said("identities"),
            "invalid configuration: --identity: library words"
        );
    }

    #[test]
    fn a_field_no_flag_sets_keeps_the_library_wording() {
        let error = ConfigError::new("max_frame_size", "must be greater than zero");
        assert_eq!(describe(&error, &given("ws://h")), error.to_string());
    }

    #[test]
    fn user_info_in_a_refused_url_is_masked() {
        let url = "http://admin:hunter2@connector.example/x@y";
        let error = Config::builder(url)
            .build()
            .expect_err("user info is refused");
        let text = describe(&error, &given(url));
        assert!(
            !text.contains("hunter2") && !text.contains("admin"),
            "{text}"
        );
        assert!(
            text.contains(r#"--url "http://…@connector.example/x@y""#),
            "{text}"
        );
    }
}
