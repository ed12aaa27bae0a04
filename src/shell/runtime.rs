//! The only runtime-specific pieces of the shell: connecting TCP and
//! sleeping. Everything else (WebSocket, TLS, channels) is
//! runtime-agnostic, so a tokio application runs a link with tokio's
//! reactor alone and no smol or `async-io` thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::io::{AsyncRead, AsyncWrite};

/// Which reactor a link's sockets and timers use. Its [`LinkDriver`]
/// (from [`RelayLink::new`]) must be polled inside that runtime.
///
/// [`LinkDriver`]: super::LinkDriver
/// [`RelayLink::new`]: super::RelayLink::new
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Runtime {
    /// smol's (`async-io`) reactor: works under any executor.
    #[default]
    Smol,
    /// tokio's reactor (feature `tokio`): the driver must run inside a
    /// tokio runtime with IO and time enabled.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    Tokio,
}

/// A byte stream of either runtime (TCP, or TLS over TCP).
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed byte stream.
pub(crate) type BoxIo = Box<dyn Io>;

impl Runtime {
    /// Connects TCP to `host:port`, with Nagle off.
    pub(crate) async fn connect(self, host: &str, port: u16) -> std::io::Result<BoxIo> {
        match self {
            Runtime::Smol => {
                let tcp = smol::net::TcpStream::connect((host, port)).await?;
                let _ = tcp.set_nodelay(true);
                Ok(Box::new(tcp))
            }
            #[cfg(feature = "tokio")]
            Runtime::Tokio => {
                let tcp = tokio::net::TcpStream::connect((host, port)).await?;
                let _ = tcp.set_nodelay(true);
                Ok(Box::new(async_tungstenite::tokio::TokioAdapter::new(tcp)))
            }
        }
    }

    /// A timer that never fires until [`Sleep::set`].
    pub(crate) fn timer(self) -> Sleep {
        match self {
            Runtime::Smol => Sleep::Smol(smol::Timer::never()),
            #[cfg(feature = "tokio")]
            Runtime::Tokio => Sleep::Tokio {
                sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
                armed: false,
            },
        }
    }

    /// `f`, or `None` when it takes longer than `limit` (a limit too far to
    /// represent never fires). Awaited where this runtime's timer cannot
    /// run (a tokio link's handle awaited outside any tokio runtime), the
    /// limit is kept by smol's timer instead.
    pub(crate) async fn within<T>(self, limit: Duration, f: impl Future<Output = T>) -> Option<T> {
        let runtime = match self {
            #[cfg(feature = "tokio")]
            Runtime::Tokio if tokio::runtime::Handle::try_current().is_err() => Runtime::Smol,
            runtime => runtime,
        };
        let mut timer = runtime.timer();
        timer.set(Instant::now().checked_add(limit));
        smol::future::or(async { Some(f.await) }, async {
            std::future::poll_fn(|cx| timer.poll(cx)).await;
            None
        })
        .await
    }
}

/// A re-armable timer of one runtime.
pub(crate) enum Sleep {
    Smol(smol::Timer),
    #[cfg(feature = "tokio")]
    Tokio {
        sleep: Pin<Box<tokio::time::Sleep>>,
        armed: bool,
    },
}

/// Deadlines further away than this never fire (tokio's timer wheel
/// cannot hold arbitrary instants).
const FAR: Duration = Duration::from_secs(60 * 60 * 24 * 365);

impl Sleep {
    /// Fires at `at`; `None` (or a deadline beyond a year) never fires.
    pub(crate) fn set(&mut self, at: Option<Instant>) {
        let at = at.filter(|at| at.saturating_duration_since(Instant::now()) < FAR);
        match self {
            Sleep::Smol(timer) => match at {
                Some(at) => timer.set_at(at),
                None => *timer = smol::Timer::never(),
            },
            #[cfg(feature = "tokio")]
            Sleep::Tokio { sleep, armed } => {
                *armed = at.is_some();
                if let Some(at) = at {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
            }
        }
    }

    /// Ready once the deadline has passed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Sleep::Smol(timer) => Pin::new(timer).poll(cx).map(|_| ()),
            #[cfg(feature = "tokio")]
            Sleep::Tokio { sleep, armed } => {
                if !*armed {
                    return Poll::Pending;
                }
                let fired = sleep.as_mut().poll(cx);
                if fired.is_ready() {
                    *armed = false;
                }
                fired
            }
        }
    }
}
