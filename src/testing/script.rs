//! The connector's scriptable state: gateways, their secrets and scripts,
//! buffered deliveries, open connections and the [`Seen`] record. Pure data
//! and decisions; the IO lives in `server.rs`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use smol::channel::Sender;

use super::auth;
use super::record::{ConnectionId, Dial, DialOutcome, Seen, SeenConnection, ANONYMOUS};
use crate::token::Secret;

/// The close code of an auth refusal.
pub(super) const UNAUTHORIZED: u16 = 4401;

/// A command for one connection task.
#[derive(Debug)]
pub(super) enum ConnCmd {
    /// Lines (each ending in `'\n'`) sent through the split / merge path.
    Lines(Vec<String>),
    /// Messages sent verbatim, one WebSocket text message each.
    Raw(Vec<String>),
    /// One binary message, sent verbatim.
    Binary(Vec<u8>),
    /// Close with this code and reason, then wait for the reply.
    Close(u16, String),
    /// Drop the socket without a close frame.
    Drop,
    /// A flag changed (e.g. stall): look again.
    Wake,
}

/// A scripted "the next n" effect.
#[derive(Debug, Clone)]
pub(super) struct Countdown<T> {
    pub(super) remaining: usize,
    pub(super) what: T,
}

/// Takes one use of a countdown, clearing it when used up.
fn take_one<T: Clone>(slot: &mut Option<Countdown<T>>) -> Option<T> {
    let countdown = slot.as_mut()?;
    let what = countdown.what.clone();
    countdown.remaining = countdown.remaining.saturating_sub(1);
    if countdown.remaining == 0 {
        *slot = None;
    }
    Some(what)
}

/// A delivery waiting in a gateway's buffer until acked.
#[derive(Debug, Clone)]
pub(super) struct Buffered {
    pub(super) buffer_id: String,
    /// The frame, `bufferId` included, as one line.
    pub(super) line: String,
}

/// One gateway's secret and scripts.
#[derive(Debug, Default)]
pub(super) struct Gateway {
    pub(super) secret: Option<Secret>,
    pub(super) revoked: bool,
    pub(super) expire_next: bool,
    pub(super) refuse: Option<Countdown<(u16, String)>>,
    pub(super) reject: Option<Countdown<u16>>,
    pub(super) withhold: bool,
    pub(super) stall: bool,
    pub(super) split: bool,
    pub(super) merge: bool,
    /// Sent `going_idle` on its latest connection: pushes are buffered.
    pub(super) idle: bool,
    pub(super) buffered: Vec<Buffered>,
    /// Outgoing messages go out as binary (UTF-8 bytes) messages.
    pub(super) binary: bool,
    /// How long each `outbound_result` is held before it is sent.
    pub(super) result_delay: Option<std::time::Duration>,
    /// Each `outbound_result` is sent twice.
    pub(super) duplicate_results: bool,
}

/// An open connection, as the handle sees it.
#[derive(Debug)]
pub(super) struct ConnEntry {
    pub(super) gateway: String,
    pub(super) tx: Sender<ConnCmd>,
    /// Refused with a close code at once; never served.
    pub(super) refused: bool,
    /// A descriptor was sent on it: live pushes may go to it.
    pub(super) ready: bool,
}

/// What to do with an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Accept,
    Refuse(u16, String),
    Http(u16),
}

/// The decision on one upgrade request.
#[derive(Debug)]
pub(super) struct Decision {
    pub(super) gateway: String,
    pub(super) connection: ConnectionId,
    pub(super) verdict: Verdict,
}

/// Everything behind the connector's mutex.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) gateways: HashMap<String, Gateway>,
    pub(super) allow_anonymous: bool,
    /// Per-op outbound results; `None` = never answer.
    pub(super) results: HashMap<String, Option<Value>>,
    pub(super) conns: HashMap<ConnectionId, ConnEntry>,
    pub(super) seen: Seen,
    pub(super) next_connection: ConnectionId,
    pub(super) next_buffer: u64,
    pub(super) shut_down: bool,
}

impl State {
    /// The gateway's entry, created on first use.
    pub(super) fn gateway(&mut self, id: &str) -> &mut Gateway {
        self.gateways.entry(id.to_owned()).or_default()
    }

    /// A flag of a gateway (false for an unknown one).
    pub(super) fn flag(&self, id: &str, pick: impl Fn(&Gateway) -> bool) -> bool {
        self.gateways.get(id).is_some_and(pick)
    }

    /// Decides an upgrade request and records the dial. `auth_header` is
    /// `Some` when the header is present (its value, or `""` when it is not
    /// visible ASCII). `tx` is registered as the connection's command
    /// channel unless the verdict is an HTTP rejection.
    pub(super) fn decide(
        &mut self,
        path: &str,
        auth_header: Option<&str>,
        unix_now: i64,
        tx: Sender<ConnCmd>,
    ) -> Decision {
        let claims = auth_header.and_then(auth::bearer).and_then(auth::decode);
        let gateway = claims
            .as_ref()
            .map_or_else(|| ANONYMOUS.to_owned(), |c| c.gateway_id.clone());
        // HTTP scripts apply to a decodable token's gateway or to an
        // upgrade without any header.
        let scripted = claims.is_some() || auth_header.is_none();
        let refuse = |reason: &str| Verdict::Refuse(UNAUTHORIZED, reason.to_owned());

        let mut authorized = false;
        let verdict = if self.shut_down {
            Verdict::Http(503)
        } else if path != "/relay" {
            Verdict::Http(404)
        } else if let Some(status) = scripted
            .then(|| take_one(&mut self.gateway(&gateway).reject))
            .flatten()
        {
            Verdict::Http(status)
        } else {
            let authenticated = match (&claims, auth_header) {
                (None, None) if self.allow_anonymous => Ok(()),
                (None, _) => Err(refuse("unauthorized")),
                (Some(c), _) => {
                    let signed = self
                        .gateways
                        .get(&c.gateway_id)
                        .and_then(|g| g.secret.as_ref())
                        .is_some_and(|secret| c.signed_by(secret));
                    if !signed {
                        Err(refuse("unauthorized"))
                    } else if c.expired_at(unix_now) {
                        Err(refuse("expired"))
                    } else {
                        Ok(())
                    }
                }
            };
            match authenticated {
                Err(verdict) => verdict,
                Ok(()) => {
                    let gw = self.gateway(&gateway);
                    if gw.revoked {
                        refuse("unauthorized")
                    } else if std::mem::take(&mut gw.expire_next) {
                        refuse("expired")
                    } else {
                        authorized = true;
                        match take_one(&mut gw.refuse) {
                            Some((code, reason)) => Verdict::Refuse(code, reason),
                            None => Verdict::Accept,
                        }
                    }
                }
            }
        };

        let connection = self.next_connection;
        let upgraded = !matches!(verdict, Verdict::Http(_));
        if upgraded {
            self.next_connection += 1;
            let refused = verdict != Verdict::Accept;
            if !refused {
                // A new connection ends the previous one's idleness.
                self.gateway(&gateway).idle = false;
            }
            self.conns.insert(
                connection,
                ConnEntry {
                    gateway: gateway.clone(),
                    tx,
                    refused,
                    ready: false,
                },
            );
            self.seen.connections.push(SeenConnection {
                id: connection,
                gateway: gateway.clone(),
                refused,
                open: true,
            });
        }
        self.seen.dials.push(Dial {
            gateway_id: claims.as_ref().map(|c| c.gateway_id.clone()),
            auth_header_present: auth_header.is_some(),
            authorized,
            token_exp: claims.as_ref().map(|c| c.exp),
            path: path.to_owned(),
            headers: Vec::new(),
            outcome: match &verdict {
                Verdict::Accept => DialOutcome::Accepted,
                Verdict::Refuse(code, reason) => DialOutcome::Refused {
                    code: *code,
                    reason: reason.clone(),
                },
                Verdict::Http(status) => DialOutcome::HttpRejected { status: *status },
            },
            connection: upgraded.then_some(connection),
        });
        Decision {
            gateway,
            connection,
            verdict,
        }
    }

    /// Forgets a connection: it is closed.
    pub(super) fn connection_ended(&mut self, id: ConnectionId) {
        self.conns.remove(&id);
        if let Some(c) = self.seen.connections.iter_mut().find(|c| c.id == id) {
            c.open = false;
        }
    }

    /// Undoes the upgrade bookkeeping of a dial whose handshake failed after
    /// its verdict.
    pub(super) fn upgrade_failed(&mut self, id: ConnectionId) {
        self.connection_ended(id);
        if let Some(d) = self
            .seen
            .dials
            .iter_mut()
            .rev()
            .find(|d| d.connection == Some(id))
        {
            d.outcome = DialOutcome::Failed;
        }
    }

    /// Sends `cmd()` to each served (not refused) open connection of
    /// `gateway`; returns how many got it. A closing or dropping command
    /// makes the connection unready at once, so that a push made before
    /// the connection task runs is buffered rather than lost.
    pub(super) fn broadcast(&mut self, gateway: &str, cmd: impl Fn() -> ConnCmd) -> usize {
        let mut sent = 0;
        for conn in self.conns.values_mut() {
            if conn.gateway != gateway || conn.refused {
                continue;
            }
            let cmd = cmd();
            if matches!(cmd, ConnCmd::Close(..) | ConnCmd::Drop) {
                conn.ready = false;
            }
            if conn.tx.try_send(cmd).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// Delivers `frame` live to the gateway's newest ready connection, or
    /// buffers it with a fresh `bufferId`.
    pub(super) fn push(&mut self, gateway: &str, mut frame: Map<String, Value>) -> Delivery {
        let idle_or_stalled = self.flag(gateway, |g| g.idle || g.stall);
        if !idle_or_stalled {
            let mut ready: Vec<(&ConnectionId, &ConnEntry)> = self
                .conns
                .iter()
                .filter(|(_, c)| c.gateway == gateway && c.ready && !c.refused)
                .collect();
            ready.sort_by_key(|(id, _)| std::cmp::Reverse(**id));
            let line = line_of(&Value::Object(frame.clone()));
            for (id, conn) in ready {
                if conn.tx.try_send(ConnCmd::Lines(vec![line.clone()])).is_ok() {
                    return Delivery::Live { connection: *id };
                }
            }
        }
        self.next_buffer += 1;
        let buffer_id = format!("buf-{}", self.next_buffer);
        frame.insert("bufferId".to_owned(), Value::String(buffer_id.clone()));
        self.gateway(gateway).buffered.push(Buffered {
            buffer_id: buffer_id.clone(),
            line: line_of(&Value::Object(frame)),
        });
        Delivery::Buffered { buffer_id }
    }
}

/// Where a pushed inbound or passthrough went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Sent live (without `bufferId`) on this connection.
    Live {
        /// The connection it was sent on.
        connection: ConnectionId,
    },
    /// Buffered: replayed with this `bufferId` on every later connection of
    /// the gateway (after its first descriptor) until acked.
    Buffered {
        /// The `bufferId` it carries.
        buffer_id: String,
    },
}

/// `value` as one line: compact JSON plus `'\n'`.
pub(super) fn line_of(value: &Value) -> String {
    let mut line = value.to_string();
    line.push('\n');
    line
}

/// A realistic capability descriptor for `platform`, with every required
/// field (relay contract §3).
///
/// Discord, Slack and Telegram get their real limits and dialects; any other
/// platform gets a generic descriptor (4096 chars, CommonMark).
pub fn default_descriptor(platform: &str) -> Value {
    let all_ops = [
        "send",
        "edit",
        "typing",
        "follow_up",
        "send_media",
        "prompt",
        "react",
        "get_chat_info",
    ];
    let (label, emoji, max_len, dialect, len_unit, threads, drafts) = match platform {
        "discord" => ("Discord", "🎮", 2000, "discord", "chars", true, true),
        "slack" => ("Slack", "💬", 40000, "mrkdwn", "chars", true, true),
        "telegram" => ("Telegram", "✈️", 4096, "telegram_html", "utf16", true, true),
        _ => ("", "🔌", 4096, "commonmark", "chars", false, false),
    };
    let label = if label.is_empty() {
        let mut chars = platform.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().chain(chars).collect::<String>()
        })
    } else {
        label.to_owned()
    };
    json!({
        "contract_version": 1,
        "platform": platform,
        "label": label,
        "emoji": emoji,
        "platform_hint": format!("You are chatting on {label}."),
        "max_message_length": max_len,
        "supports_draft_streaming": drafts,
        "supports_edit": true,
        "supports_threads": threads,
        "markdown_dialect": dialect,
        "len_unit": len_unit,
        "pii_safe": false,
        "supports_context": true,
        "supports_inchannel_continuable": false,
        "supports_block_formatting": platform == "slack",
        "supported_ops": all_ops,
    })
}

/// The lines of [`Connector::send_garbage`](super::Connector::send_garbage):
/// not JSON, JSON non-objects, an unknown type, a missing type, a blank line.
pub(super) fn garbage_lines() -> Vec<String> {
    [
        "this is not json",
        "{\"type\":\"inbound\",",
        "[1,2,3]",
        "42",
        "\"a string\"",
        "null",
        "{\"type\":\"from_the_future\",\"x\":1}",
        "{\"no_type\":true}",
        "{\"type\":7}",
        "",
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

/// Splits `text` into up to three non-empty pieces at char boundaries.
pub(super) fn split_in_pieces(text: &str) -> Vec<String> {
    let step = text.len().div_ceil(3).max(1);
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(text[start..end].to_owned());
        start = end;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Descriptor;
    use crate::token::mint_token;

    fn decide(state: &mut State, header: Option<&str>, now: i64) -> Verdict {
        let (tx, _rx) = smol::channel::unbounded();
        state.decide("/relay", header, now, tx).verdict
    }

    fn bearer(gw: &str, secret: &str, now: i64, ttl: i64) -> String {
        mint_token(gw, &Secret::new(secret), now, ttl).bearer_header_value()
    }

    #[test]
    fn default_descriptors_parse_with_every_required_field() {
        for platform in ["discord", "slack", "telegram", "matrix", ""] {
            let value = default_descriptor(platform);
            let descriptor = Descriptor::from_value(&value).expect(platform);
            assert_eq!(descriptor.to_value()["platform"], platform);
        }
    }

    #[test]
    fn verdicts_follow_signature_then_expiry_then_scripts() {
        let mut s = State::default();
        s.gateway("gw").secret = Some(Secret::new("k"));
        let now = 1_700_000_000;
        assert_eq!(
            decide(&mut s, Some(&bearer("gw", "k", now, 300)), now),
            Verdict::Accept
        );
        assert_eq!(
            decide(&mut s, Some(&bearer("gw", "bad", now, 300)), now),
            Verdict::Refuse(4401, "unauthorized".into())
        );
        assert_eq!(
            decide(&mut s, Some(&bearer("other", "k", now, 300)), now),
            Verdict::Refuse(4401, "unauthorized".into())
        );
        assert_eq!(
            decide(&mut s, Some(&bearer("gw", "k", now - 400, 300)), now),
            Verdict::Refuse(4401, "expired".into())
        );
        assert_eq!(
            decide(&mut s, Some(&bearer("gw", "k", 0, 0)), now),
            Verdict::Accept
        );
        assert_eq!(
            decide(&mut s, Some("Bearer !!"), now),
            Verdict::Refuse(4401, "unauthorized".into())
        );
        assert_eq!(
            decide(&mut s, None, now),
            Verdict::Refuse(4401, "unauthorized".into())
        );
        s.allow_anonymous = true;
        assert_eq!(decide(&mut s, None, now), Verdict::Accept);

        s.gateway("gw").reject = Some(Countdown {
            remaining: 1,
            what: 503,
        });
        assert_eq!(
            decide(&mut s, Some(&bearer("gw", "bad", now, 300)), now),
            Verdict::Http(503)
        );
        s.gateway("gw").refuse = Some(Countdown {
            remaining: 2,
            what: (1011, "busy".into()),
        });
        let valid = bearer("gw", "k", now, 300);
        assert_eq!(
            decide(&mut s, Some(&valid), now),
            Verdict::Refuse(1011, "busy".into())
        );
        assert_eq!(
            decide(&mut s, Some(&valid), now),
            Verdict::Refuse(1011, "busy".into())
        );
        assert_eq!(decide(&mut s, Some(&valid), now), Verdict::Accept);
        s.gateway("gw").expire_next = true;
        assert_eq!(
            decide(&mut s, Some(&valid), now),
            Verdict::Refuse(4401, "expired".into())
        );
        assert_eq!(decide(&mut s, Some(&valid), now), Verdict::Accept);
        s.gateway("gw").revoked = true;
        assert_eq!(
            decide(&mut s, Some(&valid), now),
            Verdict::Refuse(4401, "unauthorized".into())
        );

        let (tx, _rx) = smol::channel::unbounded();
        assert_eq!(
            s.decide("/other", Some(&valid), now, tx).verdict,
            Verdict::Http(404)
        );
        assert!(s
            .seen
            .dials
            .iter()
            .all(|d| !format!("{d:?}").contains(&valid[7..])));
    }

    #[test]
    fn pieces_cover_the_text_at_char_boundaries() {
        for text in ["", "a", "ab", "abc", "abcdefg", "é🔌x{\"a\":1}\n"] {
            let pieces = split_in_pieces(text);
            assert_eq!(pieces.concat(), text);
            assert!(pieces.len() <= 3 && pieces.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(split_in_pieces("abcdefg").len(), 3);
    }
}
