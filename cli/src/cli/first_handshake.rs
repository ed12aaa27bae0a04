//! Stdin lines read before the link's first handshake wait for it
//! (contract §8), so `echo '{"op":"send",…}' | relay-link connect …`
//! sends its line instead of failing it as `not_connected` while the link
//! is still dialing. Each line waits at most the outbound timeout, counted
//! from when it was read; lines keep their order. After the first
//! handshake nothing waits: a line sent during an outage fails at once.

use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};

/// Opens the [`Gate`] once; held by whoever sees the link's events.
#[derive(Debug)]
pub(crate) struct Opener(Option<Sender<()>>);

impl Opener {
    /// Opens the gate for good: the link was handshaken for the first time,
    /// or it has ended (then every waiting line is sent, and settled at
    /// once as closed). Opening it again does nothing.
    pub(crate) fn open(&mut self) {
        self.0 = None;
    }
}

/// Where stdin lines wait for the first handshake.
#[derive(Debug, Clone)]
pub(crate) struct Gate(Receiver<()>);

/// A closed gate and what opens it.
pub(crate) fn gate() -> (Opener, Gate) {
    let (opener, gate) = smol::channel::bounded(1);
    (Opener(Some(opener)), Gate(gate))
}

impl Gate {
    /// Waits until the gate is open or `deadline` has passed (`None`: no
    /// deadline); true when the gate is open. An open gate never waits,
    /// even past the deadline.
    pub(crate) async fn wait(&self, deadline: Option<Instant>) -> bool {
        let opened = async {
            // Nothing is ever sent: `recv` ends when the opener is dropped.
            let _ = self.0.recv().await;
            true
        };
        let expired = async {
            match deadline {
                Some(deadline) => smol::Timer::at(deadline).await,
                None => smol::future::pending().await,
            };
            false
        };
        smol::future::or(opened, expired).await
    }
}

/// The latest moment a line read at `read` waits for the first handshake;
/// `None` when that is too far to represent (it then waits as long as it
/// takes).
pub(crate) fn deadline(read: Instant, outbound_timeout: Duration) -> Option<Instant> {
    read.checked_add(outbound_timeout)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{deadline, gate};

    #[test]
    fn a_closed_gate_gives_up_at_its_deadline() {
        let (_opener, gate) = gate();
        let passed = Instant::now();
        assert!(!smol::block_on(gate.wait(Some(passed))));
    }

    #[test]
    fn an_open_gate_lets_lines_through_even_past_their_deadline() {
        let (mut opener, gate) = gate();
        opener.open();
        let passed = Instant::now();
        assert!(smol::block_on(gate.wait(Some(passed))));
        opener.open();
        assert!(
            smol::block_on(gate.clone().wait(None)),
            "opening twice is harmless"
        );
    }

    #[test]
    fn a_waiting_line_goes_through_when_the_gate_opens() {
        let (mut opener, gate) = gate();
        let waiting = smol::spawn(async move { gate.wait(None).await });
        opener.open();
        assert!(smol::block_on(waiting));
    }

    #[test]
    fn a_deadline_too_far_to_represent_is_no_deadline() {
        let now = Instant::now();
        assert_eq!(deadline(now, Duration::MAX), None);
        assert_eq!(
            deadline(now, Duration::from_millis(300)),
            Some(now + Duration::from_millis(300))
        );
    }
}
