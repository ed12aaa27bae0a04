//! The invariants, each a check over a recorded case.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use relay_link::protocol::OutgoingFrame;
use relay_link::timers::HORIZON;
use relay_link::trace::render_command;
use relay_link::{
    Command, DialFailure, FatalReport, Generation, Input, LinkState, PlatformState, RequestId,
    Settlement, Timer,
};
use serde_json::json;

use crate::driver::{at_ms, Recording};

/// Rule 8: a `Dial` while the previous dial or connection is still alive
/// (not answered by `DialFailed`/`SocketClosed`, nor cancelled or closed by
/// the core) is a violation; generations strictly increase.
pub fn check_one_dial_in_flight(recording: &Recording) -> Result<(), String> {
    // The latest dial, and whether its socket opened.
    let mut alive: Option<(Generation, bool)> = None;
    let mut last = Generation(0);
    for step in &recording.steps {
        match &step.input {
            Some(Input::DialSucceeded { gen }) if alive == Some((*gen, false)) => {
                alive = Some((*gen, true));
            }
            Some(Input::DialFailed { gen, .. }) if alive == Some((*gen, false)) => alive = None,
            Some(Input::SocketClosed { gen, .. }) if alive.map(|a| a.0) == Some(*gen) => {
                alive = None;
            }
            _ => {}
        }
        for command in &step.commands {
            match command {
                Command::Dial { gen, .. } => {
                    if let Some((old, _)) = alive {
                        return Err(format!(
                            "at +{}ms: dial {gen} while {old} is still alive",
                            at_ms(recording, step)
                        ));
                    }
                    if *gen <= last {
                        return Err(format!("dial {gen} after dial {last}"));
                    }
                    alive = Some((*gen, false));
                    last = *gen;
                }
                Command::CancelDial { gen } | Command::Close { gen, .. }
                    if alive.map(|a| a.0) == Some(*gen) =>
                {
                    alive = None;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Rules 11 and §5 Disconnect: once Revoked, Disabled or Closed, the link
/// never dials again and never leaves the terminal states.
pub fn check_no_dial_after_terminal(recording: &Recording) -> Result<(), String> {
    let mut ended: Option<LinkState> = None;
    for step in &recording.steps {
        for command in &step.commands {
            match command {
                Command::StateChanged(state) if state.is_terminal() => ended = Some(*state),
                Command::StateChanged(state) if ended.is_some() => {
                    return Err(format!(
                        "at +{}ms: left {:?} for {state}",
                        at_ms(recording, step),
                        ended
                    ));
                }
                Command::Fatal(_) => ended = Some(LinkState::Revoked),
                Command::Dial { gen, .. } if ended.is_some() => {
                    return Err(format!(
                        "at +{}ms: dial {gen} after the link became {:?}",
                        at_ms(recording, step),
                        ended
                    ));
                }
                _ => {}
            }
        }
        if ended.is_some() && !step.after.state.is_terminal() {
            return Err(format!("the link left {ended:?} for {}", step.after.state));
        }
    }
    Ok(())
}

/// §5 Requests: every request is settled exactly once, at once when it is
/// not written; `ambiguous` exactly when it was written and no result came.
pub fn check_requests_settle_once(recording: &Recording) -> Result<(), String> {
    #[derive(Default)]
    struct Request {
        written: bool,
        settled: bool,
    }
    let mut requests: HashMap<RequestId, Request> = HashMap::new();
    for step in &recording.steps {
        let at = at_ms(recording, step);
        let sent = match &step.input {
            Some(Input::Send { id, .. }) => {
                if requests.insert(id.clone(), Request::default()).is_some() {
                    return Err(format!("the driver reused id {id}"));
                }
                Some(id)
            }
            _ => None,
        };
        for command in &step.commands {
            match command {
                Command::Send {
                    frame: OutgoingFrame::Outbound { request_id, .. },
                    ..
                } => {
                    let request = requests
                        .get_mut(request_id)
                        .ok_or_else(|| format!("at +{at}ms: wrote unknown {request_id}"))?;
                    if request.written || request.settled {
                        return Err(format!("at +{at}ms: {request_id} written again"));
                    }
                    request.written = true;
                }
                Command::Settle { id, settlement } => {
                    let request = requests
                        .get_mut(id)
                        .ok_or_else(|| format!("at +{at}ms: settled unknown {id}"))?;
                    if request.settled {
                        return Err(format!("at +{at}ms: {id} settled twice"));
                    }
                    request.settled = true;
                    let is_result = matches!(settlement, Settlement::Result(_));
                    if is_result && !request.written {
                        return Err(format!(
                            "at +{at}ms: {id} got a result but was never written"
                        ));
                    }
                    if *settlement == Settlement::DuplicateId {
                        return Err(format!("at +{at}ms: unique id {id} refused as duplicate"));
                    }
                    let ambiguous = request.written && !is_result;
                    if settlement.is_ambiguous() != ambiguous {
                        return Err(format!(
                            "at +{at}ms: {id} settled {} (written: {})",
                            settlement.name(),
                            request.written
                        ));
                    }
                    let json_ambiguous =
                        settlement.to_json().get("ambiguous") == Some(&json!(true));
                    if json_ambiguous != ambiguous {
                        return Err(format!("at +{at}ms: {id}: {}", settlement.to_json()));
                    }
                }
                _ => {}
            }
        }
        // A send never waits for a reconnect: written or settled at once.
        if let Some(id) = sent {
            let request = &requests[id];
            if !request.written && !request.settled {
                return Err(format!("at +{at}ms: {id} neither written nor settled"));
            }
        }
    }
    if let Some((id, _)) = requests.iter().find(|(_, r)| !r.settled) {
        return Err(format!("{id} was never settled"));
    }
    Ok(())
}

/// Rule 11: at most one fatal report, the `relay_disabled` one, and exactly
/// one when the link was revoked.
pub fn check_at_most_one_fatal(recording: &Recording) -> Result<(), String> {
    let mut fatals = 0;
    let mut revoked = false;
    for step in &recording.steps {
        for command in &step.commands {
            if let Command::Fatal(report) = command {
                fatals += 1;
                if *report != FatalReport::relay_disabled() || report.retryable {
                    return Err(format!("unexpected report {report:?}"));
                }
            }
        }
        if fatals > 1 {
            return Err(format!(
                "at +{}ms: a second fatal report",
                at_ms(recording, step)
            ));
        }
        revoked |= matches!(step.after.state, LinkState::Revoked | LinkState::Disabled);
        if revoked && fatals != 1 {
            return Err("revoked without a fatal report".into());
        }
    }
    Ok(())
}

/// Rule 8: an input naming an older generation gives no command, changes no
/// state and no timer, and is counted.
pub fn check_stale_inputs_change_nothing(recording: &Recording) -> Result<(), String> {
    for step in recording.steps.iter().filter(|s| s.stale) {
        let at = at_ms(recording, step);
        if !step.commands.is_empty() {
            let commands: Vec<String> = step.commands.iter().map(render_command).collect();
            return Err(format!("at +{at}ms: a stale input gave {commands:?}"));
        }
        let mut expected = step.before.clone();
        expected.stats.stale_inputs += 1;
        if step.after != expected {
            return Err(format!(
                "at +{at}ms: a stale input changed the link:\n before {:?}\n after  {:?}",
                step.before, step.after
            ));
        }
    }
    Ok(())
}

/// `d = min(base · 2^(n−1), cap)`, computed independently of the crate.
pub fn ladder_ceiling(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.max(1) - 1;
    if exponent >= 64 {
        return cap;
    }
    let d = base.as_nanos().saturating_mul(1u128 << exponent);
    if d >= cap.as_nanos() {
        cap
    } else {
        // Below the cap, which is a `Duration`: the seconds fit in a u64.
        Duration::new((d / 1_000_000_000) as u64, (d % 1_000_000_000) as u32)
    }
}

/// Rule 9: right after entering Retrying, the armed backoff lies in
/// [base/2, cap], and in [d/2, d] for the attempt a model of the ladder
/// counts (climbing on every backoff, reset only when the connection that
/// was lost had stayed handshaken for the stable window).
pub fn check_backoff_within_ladder(recording: &Recording) -> Result<(), String> {
    /// The model: the attempt counter and the handshaken connection.
    struct Ladder {
        attempts: u32,
        handshaken: Option<(Generation, Instant)>,
        stable: Duration,
    }
    impl Ladder {
        fn lose(&mut self, gen: Generation, now: Instant) {
            if let Some((live, at)) = self.handshaken {
                if live == gen {
                    if now.saturating_duration_since(at) >= self.stable {
                        self.attempts = 0;
                    }
                    self.handshaken = None;
                }
            }
        }
    }
    let (base, cap) = (
        recording.config.backoff_base(),
        recording.config.backoff_max(),
    );
    let mut ladder = Ladder {
        attempts: 0,
        handshaken: None,
        stable: recording.config.stable_after(),
    };
    for step in &recording.steps {
        let at = at_ms(recording, step);
        if let Some(Input::SocketClosed { gen, .. }) = &step.input {
            if !step.counted_stale() {
                ladder.lose(*gen, step.now);
            }
        }
        for command in &step.commands {
            match command {
                Command::Descriptor { gen, .. } if ladder.handshaken.map(|h| h.0) != Some(*gen) => {
                    ladder.handshaken = Some((*gen, step.now));
                }
                Command::Close { gen, .. } => ladder.lose(*gen, step.now),
                Command::StateChanged(LinkState::Retrying) => {
                    ladder.attempts += 1;
                    let Some((deadline, Timer::Backoff)) = step.after.timeout else {
                        continue;
                    };
                    if step.after.state != LinkState::Retrying {
                        continue;
                    }
                    let delay = deadline - step.now;
                    if delay < base / 2 || delay > cap {
                        return Err(format!(
                            "at +{at}ms: backoff {delay:?} outside [{:?}, {cap:?}]",
                            base / 2
                        ));
                    }
                    let n = ladder.attempts;
                    let d = ladder_ceiling(base, cap, n);
                    if delay < d / 2 || delay > d {
                        return Err(format!(
                            "at +{at}ms: attempt {n}: backoff {delay:?} outside [{:?}, {d:?}]",
                            d / 2
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// §5 Buffered delivery: a `bufferId` reaches the application at most once
/// per link.
pub fn check_buffer_delivered_once(recording: &Recording) -> Result<(), String> {
    let mut delivered = HashSet::new();
    for step in &recording.steps {
        for command in &step.commands {
            let buffer = match command {
                Command::Inbound(frame) => frame.buffer_id.as_deref(),
                Command::Passthrough(frame) => frame.buffer_id.as_deref(),
                _ => None,
            };
            if let Some(id) = buffer {
                if !delivered.insert(id.to_owned()) {
                    return Err(format!(
                        "at +{}ms: {id} delivered twice",
                        at_ms(recording, step)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// §5 Buffered delivery: `inbound_ack` only for a delivery the application
/// accepted.
pub fn check_ack_after_acceptance(recording: &Recording) -> Result<(), String> {
    let mut delivered = HashSet::new();
    let mut accepted = HashSet::new();
    for step in &recording.steps {
        if let Some(Input::Accepted { buffer_id }) = &step.input {
            if delivered.contains(buffer_id) {
                accepted.insert(buffer_id.clone());
            }
        }
        for command in &step.commands {
            match command {
                Command::Inbound(frame) => delivered.extend(frame.buffer_id.clone()),
                Command::Passthrough(frame) => delivered.extend(frame.buffer_id.clone()),
                Command::Send {
                    frame: OutgoingFrame::InboundAck { buffer_id },
                    ..
                } if !accepted.contains(buffer_id) => {
                    return Err(format!(
                        "at +{}ms: acked {buffer_id} before the application accepted it",
                        at_ms(recording, step)
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Rule 12: consecutive `PlatformState` reports differ, and so do
/// consecutive `StateChanged` reports.
pub fn check_reported_only_on_change(recording: &Recording) -> Result<(), String> {
    let mut platform = None;
    let mut state = None;
    for step in &recording.steps {
        for command in &step.commands {
            match command {
                Command::PlatformState(p) => {
                    if platform == Some(*p) {
                        return Err(format!(
                            "at +{}ms: platform({p}) reported twice in a row",
                            at_ms(recording, step)
                        ));
                    }
                    platform = Some(*p);
                }
                Command::StateChanged(s) => {
                    if state == Some(*s) {
                        return Err(format!(
                            "at +{}ms: state({s}) reported twice in a row",
                            at_ms(recording, step)
                        ));
                    }
                    state = Some(*s);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Rule 12: every change is reported (the last report always names the
/// current state), and the platform state follows the lifecycle state.
pub fn check_every_change_is_reported(recording: &Recording) -> Result<(), String> {
    let mut platform = None;
    let mut state = None;
    let mut retried = false;
    for step in &recording.steps {
        let at = at_ms(recording, step);
        for command in &step.commands {
            match command {
                Command::PlatformState(p) => platform = Some(*p),
                Command::StateChanged(s) => state = Some(*s),
                _ => {}
            }
        }
        let current = step.after.state;
        if current != LinkState::Unstarted && state != Some(current) {
            return Err(format!("at +{at}ms: in {current}, last reported {state:?}"));
        }
        if platform != step.after.platform {
            return Err(format!(
                "at +{at}ms: platform {:?}, last reported {platform:?}",
                step.after.platform
            ));
        }
        let Some(p) = step.after.platform else {
            continue;
        };
        let fits = match current {
            LinkState::Unstarted => false,
            LinkState::Connecting if !retried => {
                matches!(p, PlatformState::Connecting | PlatformState::Retrying)
            }
            LinkState::Connecting | LinkState::Retrying | LinkState::Dormant | LinkState::Held => {
                p == PlatformState::Retrying
            }
            LinkState::Handshaken => p == PlatformState::Connected,
            LinkState::Revoked | LinkState::Disabled => p == PlatformState::Disabled,
            LinkState::Closed => p == PlatformState::Disconnected,
            // A state this check does not know yet fails it.
            _ => false,
        };
        if !fits {
            return Err(format!("at +{at}ms: {current} shown as {p}"));
        }
        retried |= p == PlatformState::Retrying;
    }
    Ok(())
}

/// How a connection or dial ended, as the strike rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// 4401 with any reason but `expired`.
    Unauthorized,
    /// 4401 `expired`.
    Expired,
    /// Anything else, including every close the core decides on.
    Other,
}

pub fn ending(code: Option<u16>, reason: &str) -> Ending {
    match code {
        Some(4401) if reason.trim() == "expired" => Ending::Expired,
        Some(4401) => Ending::Unauthorized,
        _ => Ending::Other,
    }
}

/// Rules 3–7, against an independent model of the strikes: a 4401 before
/// any handshake or an `expired` one is an ordinary drop (no fatal report,
/// no immediate re-dial); the first 4401 after a handshake re-dials at once
/// (or parks the re-dial while the application holds re-dials); only the
/// next auth outcome after it (a 4401 on the connection accepted while
/// armed, or a refusal) revokes. A judged connection that closes without a
/// 4401 ends the judgement, and so does an `expired` close of it (its
/// credential was accepted; only the token aged out). A non-auth failure
/// keeps the judgement armed.
pub fn check_strike_rules(recording: &Recording) -> Result<(), String> {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Judgement {
        Clear,
        Armed,
        Judging(Generation),
    }
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Verdict {
        Drop,
        Provisional,
        Revoked,
    }
    fn judge(
        judgement: &mut Judgement,
        gen: Generation,
        end: Ending,
        was_handshaken: bool,
    ) -> Verdict {
        match (end, *judgement) {
            (Ending::Unauthorized, _) if !was_handshaken => Verdict::Drop,
            (Ending::Unauthorized, Judgement::Armed) => Verdict::Revoked,
            (Ending::Unauthorized, Judgement::Judging(g)) if g == gen => Verdict::Revoked,
            (Ending::Unauthorized, _) => {
                *judgement = Judgement::Armed;
                Verdict::Provisional
            }
            (Ending::Other | Ending::Expired, Judgement::Judging(g)) if g == gen => {
                *judgement = Judgement::Clear;
                Verdict::Drop
            }
            _ => Verdict::Drop,
        }
    }
    let mut was_handshaken = false;
    let mut judgement = Judgement::Clear;
    for step in &recording.steps {
        if step.before.state.is_terminal() {
            break;
        }
        let at = at_ms(recording, step);
        let mut verdict = None;
        // A loss the shell reported (the link took it as news).
        if !step.counted_stale() && step.after.state != LinkState::Closed {
            match &step.input {
                Some(Input::SocketClosed { gen, code, reason }) => {
                    verdict = Some(judge(
                        &mut judgement,
                        *gen,
                        ending(*code, reason),
                        was_handshaken,
                    ));
                }
                Some(Input::DialFailed { gen, failure }) => {
                    let end = match failure {
                        DialFailure::Closed { code, reason } => ending(Some(*code), reason),
                        // Only a close code can be a 4401 strike.
                        _ => Ending::Other,
                    };
                    verdict = Some(judge(&mut judgement, *gen, end, was_handshaken));
                }
                _ => {}
            }
        }
        for command in &step.commands {
            match command {
                Command::Descriptor { gen, .. } => {
                    was_handshaken = true;
                    if judgement == Judgement::Armed {
                        judgement = Judgement::Judging(*gen);
                    }
                }
                // A close the core decided on (timeouts, protocol errors,
                // dormancy): never an auth outcome.
                Command::Close { gen, .. } | Command::CancelDial { gen }
                    if step.after.state != LinkState::Closed =>
                {
                    verdict = Some(judge(&mut judgement, *gen, Ending::Other, was_handshaken));
                }
                _ => {}
            }
        }
        let fatal = step.commands.iter().any(|c| matches!(c, Command::Fatal(_)));
        let dialed = step
            .commands
            .iter()
            .any(|c| matches!(c, Command::Dial { .. }));
        let ok = match verdict {
            None => !fatal,
            Some(Verdict::Drop) => !fatal && !dialed,
            Some(Verdict::Provisional) => !fatal && (dialed || step.after.state == LinkState::Held),
            Some(Verdict::Revoked) => fatal && !dialed,
        };
        if !ok {
            return Err(format!(
                "at +{at}ms: expected {verdict:?} (was handshaken: {was_handshaken}, \
                 judgement now {judgement:?}), got fatal: {fatal}, dial: {dialed}, state {}",
                step.after.state
            ));
        }
    }
    Ok(())
}

/// §5 Disconnect: the link is closed (or already terminal) by the end of
/// every disconnect's budget: right after a disconnect its next wake-up is
/// within the budget, and any wake-up at or past the budget finds it
/// terminal. A later disconnect with a smaller budget binds too. A budget
/// beyond the horizon binds nothing (the drain may last forever).
pub fn check_disconnect_within_budget(recording: &Recording) -> Result<(), String> {
    let mut deadline: Option<Instant> = None;
    for step in &recording.steps {
        let at = at_ms(recording, step);
        if let Some(Input::Disconnect { budget_ms }) = &step.input {
            let budget = Duration::from_millis(*budget_ms);
            let budget_end = (budget <= HORIZON).then(|| step.now + budget);
            let Some(end) = deadline.into_iter().chain(budget_end).min() else {
                continue;
            };
            deadline = Some(end);
            if !step.after.state.is_terminal() {
                match step.after.timeout {
                    Some((wake, _)) if wake <= end => {}
                    Some((wake, timer)) => {
                        return Err(format!(
                            "at +{at}ms: disconnecting (budget ends at +{}ms), next wake-up: {timer} at +{}ms",
                            (end - recording.origin).as_millis(),
                            (wake - recording.origin).as_millis()
                        ))
                    }
                    None => return Err(format!("at +{at}ms: disconnecting with no wake-up")),
                }
            }
        }
        if let Some(end) = deadline {
            if step.input.is_none() && step.now >= end && !step.after.state.is_terminal() {
                return Err(format!(
                    "at +{at}ms: still {} after the disconnect budget",
                    step.after.state
                ));
            }
        }
    }
    Ok(())
}

/// After the disconnect that ends every case, and its timers, nothing is
/// left: the link is terminal, no timer is armed, no request is pending.
pub fn check_everything_settles(recording: &Recording) -> Result<(), String> {
    let last = recording.steps.last().ok_or("no step")?;
    if !last.after.state.is_terminal() || last.after.timeout.is_some() || last.after.pending != 0 {
        return Err(format!("the case did not settle: {:?}", last.after));
    }
    Ok(())
}

/// One invariant: `Err` says what went wrong.
pub type Check = fn(&Recording) -> Result<(), String>;

/// Every invariant above, by name.
pub const ALL_CHECKS: &[(&str, Check)] = &[
    ("one dial in flight", check_one_dial_in_flight),
    ("no dial after terminal", check_no_dial_after_terminal),
    ("requests settle once", check_requests_settle_once),
    ("at most one fatal", check_at_most_one_fatal),
    (
        "stale inputs change nothing",
        check_stale_inputs_change_nothing,
    ),
    ("backoff within ladder", check_backoff_within_ladder),
    ("buffer delivered once", check_buffer_delivered_once),
    ("ack after acceptance", check_ack_after_acceptance),
    ("reported only on change", check_reported_only_on_change),
    ("every change reported", check_every_change_is_reported),
    ("strike rules", check_strike_rules),
    ("disconnect within budget", check_disconnect_within_budget),
    ("everything settles", check_everything_settles),
];
