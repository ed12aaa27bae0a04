//! [`CommandLog`]: a copy of every command a shell link executes.

use smol::channel::{Receiver, Sender};

#[cfg(doc)]
use crate::shell::Options;
use crate::Command;

/// A test hook ([`Options::command_log`]): the shell sends a copy of every
/// [`Command`] it executes here, in order, right after polling it from the
/// core. With [`Options::record`] this lets a test check that replaying the
/// recorded trace ([`Trace::commands`](crate::trace::Trace::commands))
/// reproduces exactly what the shell ran.
///
/// It is unbounded and never blocks or affects the link; clones share the
/// same log (each copy is taken by one reader).
///
/// ```
/// use relay_link::shell::Options;
/// use relay_link::testing::CommandLog;
///
/// let log = CommandLog::new();
/// let options = Options { command_log: Some(log.clone()), ..Options::default() };
/// # drop(options);
/// // … run a link with `options` …
/// assert!(log.take_ready().is_empty()); // nothing ran yet
/// ```
#[derive(Debug, Clone)]
pub struct CommandLog {
    sender: Sender<Command>,
    receiver: Receiver<Command>,
}

impl CommandLog {
    /// An empty log.
    pub fn new() -> Self {
        let (sender, receiver) = smol::channel::unbounded();
        Self { sender, receiver }
    }

    /// Waits for the next executed command.
    pub async fn recv(&self) -> Command {
        // The log holds a sender itself, so the channel never closes.
        match self.receiver.recv().await {
            Ok(command) => command,
            Err(_) => std::future::pending().await,
        }
    }

    /// Every command logged and not taken yet, in order.
    pub fn take_ready(&self) -> Vec<Command> {
        std::iter::from_fn(|| self.receiver.try_recv().ok()).collect()
    }

    /// The shell's end of the log.
    pub(crate) fn sender(&self) -> Sender<Command> {
        self.sender.clone()
    }
}

impl Default for CommandLog {
    fn default() -> Self {
        Self::new()
    }
}
