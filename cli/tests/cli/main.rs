//! The `relay-link` binary against the contract scripts rely on
//! (`docs/contract.md` §8): the built program is run as a child
//! process, talking to an in-process loopback connector
//! (`relay_link::testing::Connector`).
//!
//! Every wait has a deadline; on a deadline the child is killed and the test
//! fails with everything the child printed. A child still running when a
//! test ends is killed by `harness::Proc`'s `Drop`.

mod config;
mod connect;
mod connector;
mod harness;
mod help;
mod stdin;
mod tls;
mod tools;
mod why;
