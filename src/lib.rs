//! relay-link (crate docs in progress)
#![warn(missing_docs)]

pub mod backoff;
mod buffers;
pub mod command;
pub mod config;
mod core;
pub mod decoder;
mod ids;
pub mod input;
mod judgement;
mod link;
mod machine;
pub mod protocol;
mod requests;
pub mod timers;
pub mod token;
pub mod trace;

pub use command::{Command, FatalReport, LinkState, PlatformState, Settlement};
pub use core::Stats;
pub use ids::{Generation, RequestId};
pub use input::{DialFailure, Input};
pub use link::Link;
pub use timers::Timer;
