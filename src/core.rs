//! The core's data and the operations its states share.
//!
//! [`Core`] is the statig *context* of the lifecycle machine: the machine
//! decides which state handles an input, the core holds what every state
//! needs (the connection in flight, timers, requests, the backoff ladder,
//! the revocation judgement) and queues the [`Command`]s. It does no IO,
//! reads no clock and draws no OS randomness: `now` is set by the
//! [`Link`](crate::Link) before each dispatch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::buffers::{BufferLedger, Offer};
use crate::cause::Cause;
use crate::command::{Command, FatalReport, Settlement};
use crate::config::{Config, Identity, MAX_BUFFER_ID_LEN, MAX_UNACCEPTED_DELIVERIES};
use crate::decoder::{message_limit, LineDecoder};
use crate::judgement::{CloseKind, Judgement, Verdict};
use crate::protocol::{IncomingFrame, LineOutcome, OutgoingFrame};
use crate::requests::{line_fits, Requests};
use crate::timers::{Timer, TimerTable};
use crate::why::Why;
use crate::{Generation, RequestId};

/// Counters of things the core skipped rather than failed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines that were not JSON objects, or known frames with bad fields
    /// (including a `bufferId` longer than
    /// [`MAX_BUFFER_ID_LEN`](crate::config::MAX_BUFFER_ID_LEN)).
    pub malformed_lines: u64,
    /// Frames with an unknown or missing `type`.
    pub ignored_frames: u64,
    /// Inputs about an older generation (or a connection already gone).
    pub stale_inputs: u64,
    /// `outbound_result`s for unknown or already settled requests.
    pub unmatched_results: u64,
    /// Redelivered buffered frames that were not delivered again.
    pub duplicate_deliveries: u64,
    /// Interrupts dropped because the link was not handshaken, or because
    /// the frame was larger than the frame limit.
    pub dropped_interrupts: u64,
    /// Connections closed with 1009: a line or a single WebSocket message
    /// larger than the frame limit.
    pub oversized_frames: u64,
    /// Buffered deliveries neither delivered nor acked because
    /// [`MAX_UNACCEPTED_DELIVERIES`](crate::config::MAX_UNACCEPTED_DELIVERIES)
    /// deliveries already await acceptance; the connector delivers them again.
    pub deferred_deliveries: u64,
}

/// The dial or connection the core currently considers alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) gen: Generation,
    /// The upgrade was accepted (the socket is open).
    pub(crate) open: bool,
    /// This connection's first descriptor arrived.
    pub(crate) handshaken: bool,
}

/// Why a `going_idle` is outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdlePurpose {
    Idle,
    Dormant,
}

/// What processing a received message did to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing the state needs to act on.
    Continue,
    /// The core must end the connection, closing it with this code.
    End(u16, &'static str),
    /// `going_idle` was acknowledged for a dormant request: close and sleep.
    Dormant,
}

/// Where the link goes after a connection (or dial) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait out a backoff delay.
    Retrying,
    /// Wait out the dormant cadence.
    Dormant,
    /// A re-dial is due but held.
    Held,
    /// A new dial is in flight.
    Connecting,
    /// The credential is revoked.
    Revoked,
}

#[derive(Clone)]
pub(crate) struct Core {
    pub(crate) config: Config,
    pub(crate) now: Instant,
    pub(crate) commands: VecDeque<Command>,
    pub(crate) timers: TimerTable,
    pub(crate) requests: Requests,
    buffers: BufferLedger,
    backoff: Backoff,
    judgement: Judgement,
    decoder: LineDecoder,
    decoded: Vec<LineOutcome>,
    last_gen: Generation,
    pub(crate) live: Option<Live>,
    /// Whether any connection of this link ever handshook (rule 2).
    pub(crate) was_handshaken: bool,
    /// Whether any connection or dial was ever lost or refused.
    pub(crate) ever_lost: bool,
    handshaken_at: Option<Instant>,
    /// Re-dial on the dormant cadence instead of the ladder.
    dormant: bool,
    /// Re-dials are held by the application.
    pub(crate) hold: bool,
    idle: Option<IdlePurpose>,
    pub(crate) stats: Stats,
    /// The cause of the last ending, and the activity counters.
    pub(crate) why: Why,
}

impl Core {
    pub(crate) fn new(config: Config, seed: u64, now: Instant) -> Self {
        let backoff = Backoff::new(config.backoff_base, config.backoff_max, seed);
        let buffers = BufferLedger::new(config.dedupe_capacity, MAX_UNACCEPTED_DELIVERIES);
        let decoder = LineDecoder::new(config.max_frame_size);
        Self {
            config,
            now,
            commands: VecDeque::new(),
            timers: TimerTable::default(),
            requests: Requests::default(),
            buffers,
            backoff,
            judgement: Judgement::Clear,
            decoder,
            decoded: Vec::new(),
            last_gen: Generation(0),
            live: None,
            was_handshaken: false,
            ever_lost: false,
            handshaken_at: None,
            dormant: false,
            hold: false,
            idle: None,
            stats: Stats::default(),
            why: Why::default(),
        }
    }

    /// The data that steers transitions, for the diagram's exploration.
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "{} {} {:?} {} {} {:?} {}",
            self.was_handshaken,
            self.ever_lost,
            self.judgement,
            self.hold,
            self.dormant,
            self.idle,
            self.requests.is_empty()
        )
    }

    pub(crate) fn last_generation(&self) -> Generation {
        self.last_gen
    }

    fn push(&mut self, command: Command) {
        self.commands.push_back(command);
    }

    /// The deadline `delay` from now; `None` ("never") past the horizon.
    fn after(&self, delay: Duration) -> Option<Instant> {
        crate::timers::deadline(self.now, delay)
    }

    // ----- dialing --------------------------------------------------------

    /// Issues a new dial with the next generation (rule 8: the caller
    /// guarantees no other dial or connection is alive).
    pub(crate) fn dial(&mut self) {
        debug_assert!(self.live.is_none(), "one dialer");
        self.last_gen = Generation(self.last_gen.0 + 1);
        let gen = self.last_gen;
        self.why.counters.dials += 1;
        self.live = Some(Live {
            gen,
            open: false,
            handshaken: false,
        });
        self.push(Command::Dial {
            gen,
            auth: self.config.auth_configured(),
        });
        self.timers
            .set(Timer::Connect, self.after(self.config.connect_timeout));
    }

    /// A re-dial is due now: dial, unless the application holds re-dials.
    pub(crate) fn redial_now(&mut self) -> Next {
        if self.hold {
            Next::Held
        } else {
            self.dial();
            Next::Connecting
        }
    }

    /// The upgrade of the live dial was accepted.
    pub(crate) fn on_open(&mut self) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        live.open = true;
        let gen = live.gen;
        self.decoder.reset();
        self.timers.cancel(Timer::Connect);
        self.timers
            .set(Timer::Handshake, self.after(self.config.handshake_timeout));
        self.timers
            .set(Timer::Ping, self.after(self.config.ping_interval));
        self.timers
            .set(Timer::Idle, self.after(self.config.idle_timeout));
        let hellos: Vec<OutgoingFrame> =
            self.config.identities.iter().map(Identity::hello).collect();
        for frame in hellos {
            self.push(Command::Send { gen, frame });
        }
    }

    /// The peer showed a sign of life.
    pub(crate) fn heard(&mut self) {
        if self.live.is_some_and(|live| live.open) {
            self.timers
                .set(Timer::Idle, self.after(self.config.idle_timeout));
        }
    }

    /// Keepalive: ping and re-arm.
    pub(crate) fn ping(&mut self) {
        if let Some(live) = self.live.filter(|live| live.open) {
            self.push(Command::Ping { gen: live.gen });
            self.timers
                .set(Timer::Ping, self.after(self.config.ping_interval));
        }
    }

    fn send_frame(&mut self, frame: OutgoingFrame) -> bool {
        match self.live.filter(|live| live.open) {
            Some(live) => {
                self.push(Command::Send {
                    gen: live.gen,
                    frame,
                });
                true
            }
            None => false,
        }
    }

    // ----- ending connections ---------------------------------------------

    /// Tears down the live dial or connection. `initiated` is the close the
    /// core itself decided on (a socket it must close, a dial it must
    /// cancel); `None` when the peer or the network ended it.
    fn teardown(&mut self, initiated: Option<(u16, &str)>, lost: Settlement) {
        if let Some(live) = self.live.take() {
            match (initiated, live.open) {
                (Some((code, reason)), true) => self.push(Command::Close {
                    gen: live.gen,
                    code,
                    reason: reason.to_owned(),
                }),
                (Some(_), false) => self.push(Command::CancelDial { gen: live.gen }),
                (None, _) => {}
            }
        }
        for timer in [
            Timer::Connect,
            Timer::Handshake,
            Timer::Ping,
            Timer::Idle,
            Timer::GoingIdle,
        ] {
            self.timers.cancel(timer);
        }
        self.decoder.reset();
        for id in self.requests.take_all() {
            self.push(Command::Settle {
                id,
                settlement: lost.clone(),
            });
        }
        if self.idle.take().is_some() {
            self.push(Command::IdleOutcome { acked: false });
        }
    }

    /// The live connection or dial ended (peer close, network failure, or a
    /// close the core decided on). Judges the close and starts what comes
    /// next: backoff, the provisional re-dial, dormancy, or revocation.
    pub(crate) fn lost(
        &mut self,
        initiated: Option<(u16, &str)>,
        close: Option<(u16, &str)>,
    ) -> Next {
        let Some(live) = self.live else {
            return Next::Retrying;
        };
        self.teardown(initiated, Settlement::ConnectionLost);
        self.ever_lost = true;
        if let Some(at) = self.handshaken_at.take() {
            if self.now.saturating_duration_since(at) >= self.config.stable_after {
                self.backoff.reset();
            }
        }
        let kind = match close {
            Some((code, reason)) => CloseKind::of(Some(code), reason),
            None => CloseKind::Other,
        };
        match self.judgement.on_close(live.gen, kind, self.was_handshaken) {
            Verdict::Revoked => {
                self.revoke();
                Next::Revoked
            }
            Verdict::Provisional => self.redial_now(),
            Verdict::Drop => self.schedule_redial(),
        }
    }

    /// Waits before the next dial: the dormant cadence or the ladder.
    fn schedule_redial(&mut self) -> Next {
        if self.dormant {
            self.timers
                .set(Timer::Redial, self.after(self.config.dormant_redial));
            Next::Dormant
        } else {
            let delay = self.backoff.next_delay();
            self.timers.set(Timer::Backoff, self.after(delay));
            Next::Retrying
        }
    }

    /// Rule 11: cancel everything, fail everything, report once.
    fn revoke(&mut self) {
        self.timers.cancel_all();
        self.hold = false;
        self.push(Command::Fatal(FatalReport::relay_disabled()));
    }

    /// Ends the link deliberately (disconnect): close with 1000, settle
    /// what is left as closed, stop every timer.
    pub(crate) fn close_for_good(&mut self) {
        self.close_for_good_with(1000, "disconnect");
    }

    /// Ends the link like [`close_for_good`](Self::close_for_good), closing
    /// with `code` and `reason` (a protocol violation during a drain still
    /// gets its own close code, §4).
    pub(crate) fn close_for_good_with(&mut self, code: u16, reason: &str) {
        self.teardown(Some((code, reason)), Settlement::Closed { ambiguous: true });
        self.timers.cancel_all();
        self.hold = false;
    }

    // ----- frames -----------------------------------------------------------

    /// Decodes and handles one received message on the live connection.
    ///
    /// Every complete line is handled in order (§2): an acknowledged
    /// dormant `going_idle` does not cut the rest of its message short (the
    /// link sleeps once the message is handled); a line that ends the
    /// connection does, and its close code wins.
    pub(crate) fn receive(&mut self, text: &str) -> Effect {
        if text.len() > message_limit(self.config.max_frame_size) {
            return self.too_large();
        }
        self.heard();
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        let overflow = self.decoder.push(text, &mut decoded).is_err();
        let mut effect = Effect::Continue;
        for outcome in decoded.drain(..) {
            match self.handle_line(outcome) {
                Effect::Continue => {}
                Effect::Dormant => effect = Effect::Dormant,
                end @ Effect::End(..) => {
                    effect = end;
                    break;
                }
            }
        }
        self.decoded = decoded;
        if overflow && !matches!(effect, Effect::End(..)) {
            self.stats.oversized_frames += 1;
            self.why.noted = Some(Cause::TooLarge);
            effect = Effect::End(1009, "frame too large");
        }
        effect
    }

    /// One WebSocket message was too large for the shell to read: it is
    /// handled like an overlong line (close with 1009).
    pub(crate) fn too_large(&mut self) -> Effect {
        self.heard();
        self.stats.oversized_frames += 1;
        self.why.noted = Some(Cause::TooLarge);
        Effect::End(1009, "frame too large")
    }

    fn handle_line(&mut self, outcome: LineOutcome) -> Effect {
        match outcome {
            LineOutcome::Blank => {}
            LineOutcome::Malformed(_) => self.stats.malformed_lines += 1,
            LineOutcome::Ignored { .. } => self.stats.ignored_frames += 1,
            LineOutcome::ProtocolError(error) => {
                let message = error.to_string();
                self.why.noted = Some(Cause::ProtocolError { message });
                return Effect::End(1002, "protocol error");
            }
            LineOutcome::Frame(frame) => return self.handle_frame(frame),
        }
        Effect::Continue
    }

    fn handle_frame(&mut self, frame: IncomingFrame) -> Effect {
        let Some(gen) = self.live.map(|live| live.gen) else {
            return Effect::Continue;
        };
        self.why.counters.frames_received += 1;
        match frame {
            IncomingFrame::Descriptor(frame) => {
                self.handshake(gen);
                self.push(Command::Descriptor {
                    gen,
                    descriptor: Box::new(frame.descriptor),
                });
            }
            IncomingFrame::Inbound(frame) => {
                if self.admit(frame.buffer_id.as_deref()) {
                    self.push(Command::Inbound(Box::new(frame)));
                }
            }
            IncomingFrame::PassthroughForward(frame) => {
                if self.admit(frame.buffer_id.as_deref()) {
                    self.push(Command::Passthrough(Box::new(frame)));
                }
            }
            IncomingFrame::OutboundResult(frame) => {
                if self.requests.remove(&frame.request_id) {
                    self.push(Command::Settle {
                        id: frame.request_id,
                        settlement: Settlement::Result(frame.result),
                    });
                } else {
                    self.stats.unmatched_results += 1;
                }
            }
            IncomingFrame::InterruptInbound(frame) => {
                self.push(Command::InterruptInbound(frame));
            }
            IncomingFrame::GoingIdleAck(_) => {
                if let Some(purpose) = self.idle.take() {
                    self.timers.cancel(Timer::GoingIdle);
                    self.push(Command::IdleOutcome { acked: true });
                    if purpose == IdlePurpose::Dormant {
                        return Effect::Dormant;
                    }
                }
            }
        }
        Effect::Continue
    }

    /// The first descriptor of a connection completes its handshake.
    fn handshake(&mut self, gen: Generation) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        if live.handshaken {
            return;
        }
        live.handshaken = true;
        self.why.counters.handshakes += 1;
        self.was_handshaken = true;
        self.handshaken_at = Some(self.now);
        self.dormant = false;
        self.timers.cancel(Timer::Handshake);
        self.judgement.on_handshake(gen);
    }

    /// Whether the live connection has handshaken.
    pub(crate) fn is_handshaken(&self) -> bool {
        self.live.is_some_and(|live| live.handshaken)
    }

    /// Buffered delivery: decides whether to deliver, and re-acks accepted
    /// redeliveries. A `bufferId` longer than [`MAX_BUFFER_ID_LEN`] makes
    /// the frame malformed.
    fn admit(&mut self, buffer_id: Option<&str>) -> bool {
        let Some(id) = buffer_id else {
            return true;
        };
        if id.len() > MAX_BUFFER_ID_LEN {
            self.stats.malformed_lines += 1;
            return false;
        }
        match self.buffers.offer(id) {
            Offer::Deliver => true,
            Offer::Deferred => {
                self.stats.deferred_deliveries += 1;
                false
            }
            Offer::AwaitingAcceptance => {
                self.stats.duplicate_deliveries += 1;
                false
            }
            Offer::AckAgain => {
                self.stats.duplicate_deliveries += 1;
                self.send_frame(OutgoingFrame::InboundAck {
                    buffer_id: id.to_owned(),
                });
                false
            }
        }
    }

    // ----- application requests ---------------------------------------------

    /// Settles a request that was never written.
    pub(crate) fn refuse(&mut self, id: &RequestId, settlement: Settlement) {
        self.push(Command::Settle {
            id: id.clone(),
            settlement,
        });
    }

    /// Writes an outbound request on the handshaken connection; a frame
    /// over the frame limit is refused unwritten ([`Settlement::TooLarge`]).
    pub(crate) fn send_request(
        &mut self,
        id: &RequestId,
        action: &serde_json::Map<String, serde_json::Value>,
        platform: Option<&str>,
    ) {
        if self.requests.contains(id) {
            self.refuse(id, Settlement::DuplicateId);
            return;
        }
        let bot_id = platform.and_then(|platform| {
            self.config
                .identities
                .iter()
                .find(|identity| identity.platform == platform)
                .map(|identity| identity.bot_id.clone())
        });
        let frame = OutgoingFrame::Outbound {
            request_id: id.clone(),
            action: action.clone(),
            platform: platform.map(str::to_owned),
            bot_id,
        };
        if !line_fits(&frame, self.config.max_frame_size) {
            self.refuse(id, Settlement::TooLarge);
        } else if self.send_frame(frame) {
            let deadline = self.after(self.config.outbound_timeout);
            self.requests.insert(id.clone(), deadline);
        } else {
            self.refuse(id, Settlement::NotConnected);
        }
    }

    /// Settles the requests whose timeout is due.
    pub(crate) fn expire_requests(&mut self) {
        for id in self.requests.take_expired(self.now) {
            self.push(Command::Settle {
                id,
                settlement: Settlement::TimedOut,
            });
        }
    }

    /// Fire-and-forget interrupt.
    pub(crate) fn interrupt(&mut self, session_key: &str, reason: Option<&str>) {
        let frame = OutgoingFrame::Interrupt {
            session_key: session_key.to_owned(),
            reason: reason.map(str::to_owned),
        };
        let fits = line_fits(&frame, self.config.max_frame_size);
        if !(fits && self.is_handshaken() && self.send_frame(frame)) {
            self.stats.dropped_interrupts += 1;
        }
    }

    /// `going_idle`, for idling or going dormant.
    pub(crate) fn go_idle(&mut self, purpose: IdlePurpose) {
        if !self.is_handshaken() {
            self.refuse_idle();
            return;
        }
        if let Some(current) = self.idle.as_mut() {
            // Already waiting for an ack: a dormant request upgrades it.
            if purpose == IdlePurpose::Dormant {
                *current = IdlePurpose::Dormant;
            }
            return;
        }
        self.idle = Some(purpose);
        self.send_frame(OutgoingFrame::GoingIdle);
        self.timers
            .set(Timer::GoingIdle, self.after(self.config.going_idle_timeout));
    }

    /// Refuses a `going_idle` request without writing anything.
    pub(crate) fn refuse_idle(&mut self) {
        self.push(Command::IdleOutcome { acked: false });
    }

    /// A `go_idle` / `go_dormant` during a drain writes nothing: it shares
    /// the outcome of one already outstanding (the ack may still come;
    /// the drain's end answers `false` otherwise), or is refused at once.
    pub(crate) fn idle_while_draining(&mut self) {
        if self.idle.is_none() {
            self.refuse_idle();
        }
    }

    /// No `going_idle_ack` in time: stay connected.
    pub(crate) fn idle_timed_out(&mut self) {
        if self.idle.take().is_some() {
            self.push(Command::IdleOutcome { acked: false });
        }
    }

    /// Dormancy: close without ending the link; re-dial on the cadence.
    pub(crate) fn go_dormant(&mut self) -> Next {
        self.dormant = true;
        self.lost(Some((1000, "dormant")), None)
    }

    /// The application accepted a buffered delivery: ack it if we can.
    pub(crate) fn accept(&mut self, buffer_id: &str) {
        if self.buffers.accept(buffer_id) {
            self.send_frame(OutgoingFrame::InboundAck {
                buffer_id: buffer_id.to_owned(),
            });
        }
    }

    /// Parks re-dials for at most `max_hold`.
    pub(crate) fn hold_redial(&mut self) {
        if !self.hold {
            self.hold = true;
            self.timers
                .set(Timer::Hold, self.after(self.config.max_hold));
        }
    }

    /// Releases parked re-dials; true when a hold was active.
    pub(crate) fn release_redial(&mut self) -> bool {
        self.timers.cancel(Timer::Hold);
        std::mem::replace(&mut self.hold, false)
    }

    /// A second disconnect while draining: the drain ends no later than
    /// the new budget allows.
    pub(crate) fn tighten_drain(&mut self, budget: Duration) {
        let Some(deadline) = self.after(self.drain_within(budget)) else {
            return;
        };
        if self.timers.get(Timer::Drain).is_none_or(|at| deadline < at) {
            self.timers.set(Timer::Drain, Some(deadline));
        }
    }

    /// How long a disconnect with this budget may drain: the drain grace,
    /// but leaving a quarter of the budget (at most 1 s) for the close.
    fn drain_within(&self, budget: Duration) -> Duration {
        let close_reserve = (budget / 4).min(Duration::from_secs(1));
        self.config
            .drain_grace
            .min(budget.saturating_sub(close_reserve))
    }

    /// Arms the disconnect's drain grace within the caller's budget.
    pub(crate) fn start_drain(&mut self, budget: Duration) {
        for timer in Timer::TABLE {
            if !matches!(timer, Timer::Ping | Timer::Idle) {
                self.timers.cancel(timer);
            }
        }
        self.hold = false;
        let grace = self.drain_within(budget);
        self.timers.set(Timer::Drain, self.after(grace));
    }
}
