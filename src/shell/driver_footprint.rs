//! The driver future's own size: it is allocated once per link and lives
//! as long as the link, so every byte counts 1,000 times for 1,000 links.

use super::{build, Driver};
use crate::config::Config;
use crate::shell::Options;

#[test]
fn the_driver_future_holds_one_copy_of_the_driver() {
    let config = Config::builder("ws://127.0.0.1:9/")
        .build()
        .expect("a valid config");
    let (_requests, _events, _shared, future) =
        build(config, Options::default()).expect("valid options");
    let future = std::mem::size_of_val(&*future);
    let driver = std::mem::size_of::<Driver>();
    // Moving the driver into a by-value `async fn` (or an `async` block
    // around one) stores it two to five times over (9.6 KiB per link).
    assert!(
        future < 2 * driver,
        "the driver future is {future} B for a {driver} B driver"
    );
}
