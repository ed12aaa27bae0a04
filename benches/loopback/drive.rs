//! Where a smol-runtime link's driver runs: smol's global executor
//! (`RelayLink::spawn`), the bench's own executor on the calling thread
//! (`RelayLink::new` + `LocalExecutor::spawn`), or a thread of its own
//! (`RelayLink::new` + `block_on` on a new thread).

use relay_link::config::Config;
use relay_link::shell::{Events, RelayLink, Runtime};
use smol::LocalExecutor;

use crate::common::options;

/// The executor a link's driver is spawned on.
#[derive(Clone, Copy)]
pub enum Drive<'a> {
    /// `RelayLink::spawn`: smol's global executor (its own thread).
    Global,
    /// `RelayLink::new`, driver spawned on the bench's executor, which runs
    /// on the calling thread.
    Local(&'a LocalExecutor<'static>),
    /// `RelayLink::new`, driver `block_on`'d on a thread of its own.
    Thread,
}

/// Starts a link on smol's reactor with its driver where `drive` says.
pub fn start(drive: Drive<'_>, config: Config) -> (RelayLink, Events) {
    let options = options(Runtime::Smol);
    match drive {
        Drive::Global => RelayLink::spawn(config, options).expect("spawn"),
        Drive::Local(ex) => {
            let (link, events, driver) = RelayLink::new(config, options).expect("new");
            ex.spawn(driver).detach();
            (link, events)
        }
        Drive::Thread => {
            let (link, events, driver) = RelayLink::new(config, options).expect("new");
            std::thread::Builder::new()
                .name("link-driver".into())
                .spawn(move || smol::block_on(driver))
                .expect("driver thread");
            (link, events)
        }
    }
}
