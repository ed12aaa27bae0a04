//! The revocation judgement: telling a revoked credential from a
//! cold-start race or an expired token (contract §5 rules 3–7).

use crate::Generation;

/// How a close (or a refused upgrade) is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// An ordinary drop: back off and re-dial.
    Drop,
    /// A first strike: re-dial once, immediately, with a fresh token.
    Provisional,
    /// The second strike: the credential is revoked.
    Revoked,
}

/// What the link remembers between strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Judgement {
    /// No strike pending.
    #[default]
    Clear,
    /// A first strike happened; the next connection that reaches an auth
    /// outcome is judged.
    Armed,
    /// Connection `gen` was accepted while armed; it stays under judgement
    /// until it closes.
    Judging(Generation),
}

/// The auth meaning of a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// 4401 with any reason but `expired`.
    Unauthorized,
    /// 4401 `expired`: never a revocation.
    Expired,
    /// Anything else: a drop, an error, EOF, a timeout.
    Other,
}

/// The connector's "unauthorized" close code.
pub(crate) const UNAUTHORIZED: u16 = 4401;

impl CloseKind {
    /// Classifies a close code and reason.
    pub(crate) fn of(code: Option<u16>, reason: &str) -> Self {
        match code {
            Some(UNAUTHORIZED) if reason.trim() == "expired" => CloseKind::Expired,
            Some(UNAUTHORIZED) => CloseKind::Unauthorized,
            _ => CloseKind::Other,
        }
    }
}

impl Judgement {
    /// Connection `gen` handshook: while armed, it becomes the judged one.
    pub(crate) fn on_handshake(&mut self, gen: Generation) {
        if *self == Judgement::Armed {
            *self = Judgement::Judging(gen);
        }
    }

    /// Connection (or dial) `gen` ended with `kind`. `was_handshaken` is
    /// whether any connection of the link ever handshook.
    pub(crate) fn on_close(
        &mut self,
        gen: Generation,
        kind: CloseKind,
        was_handshaken: bool,
    ) -> Verdict {
        match (kind, *self) {
            // Rule 3: a cold-start race is an ordinary drop.
            (CloseKind::Unauthorized, _) if !was_handshaken => Verdict::Drop,
            // Rule 6: the second strike.
            (CloseKind::Unauthorized, Judgement::Armed) => Verdict::Revoked,
            (CloseKind::Unauthorized, Judgement::Judging(judged)) if judged == gen => {
                Verdict::Revoked
            }
            // Rule 5: the first strike is provisional.
            (CloseKind::Unauthorized, _) => {
                *self = Judgement::Armed;
                Verdict::Provisional
            }
            // Rule 7: a judged, accepted connection that closes without a
            // 4401 ends the judgement; so does `expired` (rule 4: the
            // credential was accepted, only the token aged out).
            (CloseKind::Other | CloseKind::Expired, Judgement::Judging(judged))
                if judged == gen =>
            {
                *self = Judgement::Clear;
                Verdict::Drop
            }
            // Rule 4 (`expired` answers no auth question: an armed
            // judgement stays armed) and rule 7 (a non-auth failure keeps
            // it armed).
            _ => Verdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: Generation = Generation(1);
    const G2: Generation = Generation(2);
    const G3: Generation = Generation(3);

    #[test]
    fn unauthorized_before_any_handshake_is_an_ordinary_drop() {
        let mut j = Judgement::Clear;
        assert_eq!(
            j.on_close(G1, CloseKind::Unauthorized, false),
            Verdict::Drop
        );
        assert_eq!(j, Judgement::Clear);
    }

    #[test]
    fn expired_is_never_a_strike() {
        let mut j = Judgement::Clear;
        assert_eq!(j.on_close(G1, CloseKind::Expired, true), Verdict::Drop);
        assert_eq!(j, Judgement::Clear);
        let mut armed = Judgement::Armed;
        assert_eq!(armed.on_close(G1, CloseKind::Expired, true), Verdict::Drop);
        assert_eq!(armed, Judgement::Armed);
    }

    #[test]
    fn second_unauthorized_after_a_handshake_revokes() {
        let mut j = Judgement::Clear;
        assert_eq!(
            j.on_close(G1, CloseKind::Unauthorized, true),
            Verdict::Provisional
        );
        assert_eq!(
            j.on_close(G2, CloseKind::Unauthorized, true),
            Verdict::Revoked
        );
    }

    #[test]
    fn judged_connection_that_closes_cleanly_ends_the_judgement() {
        let mut j = Judgement::Armed;
        j.on_handshake(G2);
        assert_eq!(j, Judgement::Judging(G2));
        assert_eq!(j.on_close(G2, CloseKind::Other, true), Verdict::Drop);
        assert_eq!(j, Judgement::Clear);
        assert_eq!(
            j.on_close(G3, CloseKind::Unauthorized, true),
            Verdict::Provisional
        );
    }

    #[test]
    fn expired_close_of_the_judged_connection_ends_the_judgement() {
        let mut j = Judgement::Armed;
        j.on_handshake(G2);
        assert_eq!(j.on_close(G2, CloseKind::Expired, true), Verdict::Drop);
        assert_eq!(j, Judgement::Clear);
    }

    #[test]
    fn judged_connection_refused_later_revokes() {
        let mut j = Judgement::Armed;
        j.on_handshake(G2);
        assert_eq!(
            j.on_close(G2, CloseKind::Unauthorized, true),
            Verdict::Revoked
        );
    }

    #[test]
    fn non_auth_failure_keeps_the_judgement_armed() {
        let mut j = Judgement::Armed;
        assert_eq!(j.on_close(G2, CloseKind::Other, true), Verdict::Drop);
        assert_eq!(j, Judgement::Armed);
        assert_eq!(
            j.on_close(G3, CloseKind::Unauthorized, true),
            Verdict::Revoked
        );
    }
}
