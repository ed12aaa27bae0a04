//! The shell's options and the errors of starting a link.

use std::path::PathBuf;

use super::Runtime;
#[cfg(doc)]
use crate::config::Config;

/// The default bound of the event channel ([`Options::event_capacity`]).
pub const DEFAULT_EVENT_CAPACITY: usize = 256;

/// Options of the shell (the core's options live in [`Config`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// The backoff jitter seed; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Write every input the core receives to this file, as a trace
    /// ([`crate::trace`]) that `relay-link replay` can render.
    pub record: Option<PathBuf>,
    /// How `wss://` dials authenticate the connector: the trusted roots,
    /// extra roots (DER or PEM files) or a ready rustls client
    /// configuration ([`tls`](super::tls)).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: super::tls::TlsOptions,
    /// Test hook (feature `testing`): a copy of every
    /// [`Command`](crate::Command) the shell executes, in order
    /// ([`CommandLog`](crate::testing::CommandLog)).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub command_log: Option<crate::testing::CommandLog>,
    /// How many events may wait for the application
    /// (default [`DEFAULT_EVENT_CAPACITY`], at least 1). When they are all
    /// unread the link stops reading its socket (the connector's frames
    /// wait in TCP) while timers, keepalive pings, writes and request
    /// settlement go on; nothing is dropped.
    pub event_capacity: usize,
    /// The reactor of the link's sockets and timers (default smol's);
    /// with the `tokio` feature, `Runtime::Tokio` runs the link on
    /// tokio's alone.
    pub runtime: Runtime,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: None,
            record: None,
            #[cfg(feature = "tls")]
            tls: super::tls::TlsOptions::default(),
            #[cfg(feature = "testing")]
            command_log: None,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            runtime: Runtime::Smol,
        }
    }
}

impl Options {
    /// The shell's end of the [`command_log`](Options::command_log) test
    /// hook (none without the `testing` feature).
    pub(super) fn command_log_sender(&self) -> Option<smol::channel::Sender<crate::Command>> {
        #[cfg(feature = "testing")]
        return self
            .command_log
            .as_ref()
            .map(crate::testing::CommandLog::sender);
        #[cfg(not(feature = "testing"))]
        None
    }
}

/// Why a link could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(String),
    /// A file of trusted root certificates could not be used
    /// ([`TlsOptions::extra_root_files`](super::tls::TlsOptions::extra_root_files)).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("{option}: {}: {problem}", path.display())]
    RootFile {
        /// The option, `tls.extra_root_files`.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// `wss://` was configured but the `tls` feature is off.
    #[error("url: wss:// needs the `tls` feature")]
    TlsDisabled,
    /// The trace file could not be created.
    #[error("record: {0}")]
    Record(#[from] std::io::Error),
    /// An option is out of range.
    #[error("{field}: {problem}")]
    Option {
        /// The option's field name in [`Options`].
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}
