//! The tokio side (feature `tokio`): a current-thread tokio runtime on a
//! thread of its own, links with `Runtime::Tokio` whose drivers are tokio
//! tasks there, and the bare tokio-tungstenite client.
//!
//! The caller is either a task on that runtime (the link's own executor)
//! or the bench's main thread awaiting through `Handle::block_on` (another
//! thread; the runtime's thread drives IO and timers).

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use relay_link::config::Config;
use relay_link::shell::{Events, RelayLink, Runtime};
use tokio::runtime::Handle;

use crate::bare;
use crate::common::options;

/// A current-thread tokio runtime running on its own thread until dropped.
pub struct TokioThread {
    handle: Handle,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TokioThread {
    pub fn start() -> TokioThread {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let handle = runtime.handle().clone();
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("tokio-rt".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = stopped.recv().await;
                });
            })
            .expect("tokio thread");
        TokioThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Polls `f` on the calling thread (IO and timers run on the
    /// runtime's thread).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }

    /// Runs `f` as a task on the runtime's thread and waits for it.
    pub fn on_runtime<F>(&self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle
            .block_on(self.handle.spawn(f))
            .expect("tokio task")
    }

    /// Starts a `Runtime::Tokio` link, its driver a task on this runtime.
    pub fn start_link(&self, config: Config) -> (RelayLink, Events) {
        start(&self.handle, config)
    }
}

/// Starts a `Runtime::Tokio` link with its driver spawned on `handle`.
pub fn start(handle: &Handle, config: Config) -> (RelayLink, Events) {
    let (link, events, driver) = RelayLink::new(config, options(Runtime::Tokio)).expect("new");
    drop(handle.spawn(driver));
    (link, events)
}

impl Drop for TokioThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A bare tokio-tungstenite client: connect, hello, wait for the
/// descriptor. Must run inside a tokio runtime.
pub async fn connect(
    addr: SocketAddr,
    config: Option<WebSocketConfig>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.set_nodelay(true);
    let url = bare::relay_url(addr);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, config)
        .await
        .expect("upgrade");
    bare::hello(&mut ws).await;
    ws
}

/// The tokio workloads of the profiling mode (see `profile.rs`).
pub fn profile(workload: &str, url: &str, repeat: fn(&str, &mut dyn FnMut())) {
    let rt = TokioThread::start();
    match workload {
        "inbound-tokio" => repeat(workload, &mut || {
            let (link, mut events) = rt.start_link(crate::common::config(url));
            rt.block_on(crate::common::handshaken(&mut events));
            let frames = crate::inbound::FRAMES;
            let (_, events) =
                rt.on_runtime(crate::inbound::app(link.clone(), events, frames, false));
            rt.block_on(link.disconnect(std::time::Duration::from_secs(2)));
            drop(events);
        }),
        _ => {
            let (link, mut events) = rt.start_link(crate::common::config(url));
            rt.block_on(crate::common::handshaken(&mut events));
            let calls = || crate::round_trips::callers(link.clone(), 1, 2_000);
            if workload == "round-trip-tokio-own" {
                repeat(workload, &mut || {
                    rt.on_runtime(calls());
                });
            } else {
                repeat(workload, &mut || {
                    rt.block_on(calls());
                });
            }
        }
    }
}
