//! Helpers shared by every section: configs, waiting for the handshake,
//! statistics, `/proc` readings, line splitting and the frames both sides
//! exchange.

use relay_link::config::Config;
use relay_link::shell::{Event, Events, Options, Runtime};
use relay_link::LinkState;
use serde_json::{json, Map, Value};
use smol::stream::StreamExt;

/// Fixed so every run draws the same backoff delays.
pub const SEED: u64 = 0x5eed_2024;

pub fn config(url: &str) -> Config {
    Config::builder(url)
        .identity("discord", "b1")
        .build()
        .expect("bench config")
}

/// The shell options of the bench's links, on `runtime`'s reactor.
pub fn options(runtime: Runtime) -> Options {
    Options {
        seed: Some(SEED),
        runtime,
        ..Options::default()
    }
}

/// Waits for the link's next `Handshaken` state.
pub async fn handshaken(events: &mut Events) {
    loop {
        match events.next().await {
            Some(Event::State {
                state: LinkState::Handshaken,
                ..
            }) => return,
            Some(Event::Fatal(report)) => panic!("fatal: {report:?}"),
            Some(_) => {}
            None => panic!("the link ended before its handshake"),
        }
    }
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Resident set size of this process, in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A `… kB` field of `/proc/self/status`.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Threads of this process, by name (`/proc/self/task/*/comm`).
pub fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut names: Vec<String> = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    names.sort();
    names
}

/// Context switches (voluntary and not) of every thread of this process.
pub fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

pub fn hello_line() -> String {
    format!(
        "{}\n",
        json!({"type": "hello", "platform": "discord", "botId": "b1"})
    )
}

/// The request that makes the raw server write its pre-built frames.
pub fn blast_line() -> String {
    format!(
        "{}\n",
        json!({"type": "interrupt", "session_key": "blast", "reason": null})
    )
}

/// Splits `text` into lines, keeping the trailing partial line in `partial`.
pub fn for_each_line(partial: &mut String, text: &str, mut each: impl FnMut(&str)) {
    let mut rest = text;
    if !partial.is_empty() {
        match rest.find('\n') {
            Some(end) => {
                partial.push_str(&rest[..end]);
                each(partial);
                partial.clear();
                rest = &rest[end + 1..];
            }
            None => {
                partial.push_str(rest);
                return;
            }
        }
    }
    while let Some(end) = rest.find('\n') {
        let line = &rest[..end];
        if !line.trim().is_empty() {
            each(line);
        }
        rest = &rest[end + 1..];
    }
    partial.push_str(rest);
}

/// The outbound action of the round trips.
pub fn action() -> Map<String, Value> {
    let Value::Object(action) = json!({
        "op": "send",
        "chat_id": "987654321098765432",
        "text": "on it, give me a minute",
    }) else {
        unreachable!()
    };
    action
}
