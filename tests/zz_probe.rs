mod loopback;
use std::time::{Duration, Instant};
use loopback::*;
use relay_link::LinkState as S;
use serde_json::json;
#[test]
fn probe() {
    run(async {
        for _ in 0..5 {
        let Online { connector, link, .. } = online(|c| c.drain_grace(Duration::from_secs(5))).await;
        connector.stall(GW, true);
        let pending = link.request(action("send", json!({"text": "stuck"})), None);
        let t = Instant::now();
        link.disconnect(Duration::from_millis(300)).await;
        let ret = t.elapsed();
        while link.state() != S::Closed { sleep(Duration::from_micros(100)).await; }
        let closed = t.elapsed();
        let s = pending.settled().await;
        println!("returned {ret:?} closed {closed:?} settled {:?} {s}", t.elapsed());
        }
    });
}
