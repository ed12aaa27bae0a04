//! Core benchmarks (see `docs/performance.md`; run with `scripts/bench-core.sh`).
//!
//! * `decoder/line_decoder`: [`LineDecoder::push`] over a realistic mixed
//!   stream of `inbound` and `outbound_result` frames, several frames per
//!   WebSocket message and some frames split across messages.
//! * `decoder/serde_value`: the baseline, in the same run: the same bytes
//!   split into lines, each parsed with `serde_json::from_slice::<Value>`.
//! * `machine/*`: a handshaken [`Link`] handling a steady stream of inputs,
//!   draining its commands after each input as a shell would.
//!
//! Every benchmark prints one `workload ...` line (bytes, inputs and frames
//! per iteration) that the script uses to turn times into per-input figures.
//!
//! Times are the benchmark thread's CPU time (64-bit Linux:
//! `CLOCK_THREAD_CPUTIME_ID`), not wall time: the 2-core development machine
//! is shared with concurrent builds, and wall time there swings by 2x from
//! run to run. `RELAY_BENCH_WALL=1` (and any other system) measures wall
//! time instead.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use relay_link::config::Config;
use relay_link::decoder::LineDecoder;
use relay_link::protocol::LineOutcome;
use relay_link::{Command, Generation, Input, Link, LinkState, RequestId};
use serde_json::{json, Map, Value};

/// Fixed so every run measures the same bytes.
const SEED: u64 = 0x5eed_2024;

/// Message texts: plain, punctuated, multi-line, quoted and non-ASCII.
const TEXTS: [&str; 8] = [
    "hey, is the deploy still running?",
    "Can you summarise the thread above? I missed the standup this morning and need the gist before the 2pm sync.",
    "lgtm 👍",
    "Here is the stack trace:\nthread 'main' panicked at src/main.rs:42:5\ncalled `Option::unwrap()` on a `None` value",
    "Prüfen Sie bitte die Rechnung für März — der Betrag stimmt nicht.",
    "He said \"ship it\" and then went offline for the weekend…",
    "/ask what is the retention policy for audit logs in the EU region and who signs off on exceptions?",
    "ok",
];

const USERS: [&str; 5] = ["alice", "Bob Martin", "carol_dev", "Dmitri Ivanov", "エミ"];

/// What a generated stream is made of.
#[derive(Clone, Copy)]
struct Spec {
    frames: usize,
    /// Share of `outbound_result` frames (the rest are `inbound`).
    result_share: f64,
    /// Share of `inbound` frames carrying a `bufferId`.
    buffered_share: f64,
    /// Most complete frames per message.
    max_frames_per_message: usize,
    /// Chance that a message ends inside a frame (the frame is split).
    split_share: f64,
    /// Whether `type` is the first key of each frame (else the last).
    type_first: bool,
}

/// The frame line: `body` (an object) with its `type` key added first or
/// last. `serde_json::json!` sorts keys, which would put `type` last.
fn with_type(kind: &str, body: &Value, first: bool) -> String {
    let body = body.to_string();
    let inner = &body[1..body.len() - 1];
    if first {
        format!("{{\"type\":\"{kind}\",{inner}}}")
    } else {
        format!("{{{inner},\"type\":\"{kind}\"}}")
    }
}

/// The mixed stream of the decoder benchmark and `machine/mixed`.
const MIXED: Spec = Spec {
    frames: 240,
    result_share: 0.3,
    buffered_share: 0.25,
    max_frames_per_message: 4,
    split_share: 0.2,
    type_first: true,
};

/// Chat traffic only (`machine/inbound`).
const INBOUND_ONLY: Spec = Spec {
    result_share: 0.0,
    ..MIXED
};

/// One request after another (`machine/round_trip`): one result per message.
const ROUND_TRIPS: Spec = Spec {
    frames: 64,
    result_share: 1.0,
    buffered_share: 0.0,
    max_frames_per_message: 1,
    split_share: 0.0,
    type_first: true,
};

/// One WebSocket message and what the application does around it.
struct Message {
    /// Requests whose result starts in this message, sent just before it.
    sends: Vec<RequestId>,
    text: String,
    /// Buffered deliveries completed by this message, accepted right after.
    accepts: Vec<String>,
}

struct Stream {
    messages: Vec<Message>,
    bytes: usize,
    frames: usize,
    inbound_frames: usize,
}

/// Builds a stream of `spec`. The shape and the byte count depend only on
/// `spec`; `cycle` goes into every request id and `bufferId` (fixed width)
/// so that repeated cycles stay fresh for the link's ledgers.
fn stream(spec: Spec, cycle: u64) -> Stream {
    let mut rng = fastrand::Rng::with_seed(SEED);
    // (line, request id of a result, bufferId of a buffered inbound)
    let mut lines = Vec::with_capacity(spec.frames);
    let mut inbound_frames = 0;
    for i in 0..spec.frames {
        let n = (cycle << 16) | i as u64;
        if rng.f64() < spec.result_share {
            let id = format!("{n:032x}");
            let body = json!({
                "requestId": id,
                "result": {
                    "success": true,
                    "message_id": format!("{}", 1_200_000_000_000_000_000u64 + n),
                    "chat_id": "987654321098765432",
                },
            });
            let line = with_type("outbound_result", &body, spec.type_first);
            lines.push((line, Some(RequestId::new(id)), None));
        } else {
            inbound_frames += 1;
            let buffer_id = (rng.f64() < spec.buffered_share).then(|| format!("buf-{n:016x}"));
            let text = TEXTS[rng.usize(..TEXTS.len())];
            let mut frame = json!({
                "event": {
                    "text": text,
                    "message_type": "text",
                    "message_id": format!("{}", 1_100_000_000_000_000_000u64 + n),
                    "source": {
                        "platform": "discord",
                        "chat_id": "987654321098765432",
                        "chat_type": if rng.bool() { "group" } else { "dm" },
                        "user_id": format!("{}", 300_000_000_000_000_000u64 + rng.u64(..1000)),
                        "user_name": USERS[rng.usize(..USERS.len())],
                        "thread_id": null,
                        "scope_id": "guild:112233445566778899",
                        "guild_id": "112233445566778899",
                    },
                    "media_urls": [],
                    "timestamp": "2024-05-17T09:21:44.512Z",
                },
            });
            if let Some(id) = &buffer_id {
                frame["bufferId"] = Value::String(id.clone());
            }
            lines.push((
                with_type("inbound", &frame, spec.type_first),
                None,
                buffer_id,
            ));
        }
    }

    let mut messages = Vec::new();
    let mut text = String::new();
    let mut sends = Vec::new();
    let mut accepts = Vec::new();
    let mut in_message = 0;
    let mut bytes = 0;
    let mut frames = lines.into_iter().peekable();
    while let Some((line, request, buffer)) = frames.next() {
        let whole = format!("{line}\n");
        bytes += whole.len();
        // The request goes out before the message its result starts in.
        sends.extend(request);
        let last = frames.peek().is_none();
        if !last && rng.f64() < spec.split_share {
            // End this message inside the frame; the rest opens the next.
            let mut cut = rng.usize(1..whole.len() - 1);
            while !whole.is_char_boundary(cut) {
                cut -= 1;
            }
            text.push_str(&whole[..cut]);
            messages.push(Message {
                sends: std::mem::take(&mut sends),
                text: std::mem::take(&mut text),
                accepts: std::mem::take(&mut accepts),
            });
            text.push_str(&whole[cut..]);
            accepts.extend(buffer);
            in_message = 1;
            continue;
        }
        text.push_str(&whole);
        accepts.extend(buffer);
        in_message += 1;
        if last || in_message >= rng.usize(1..=spec.max_frames_per_message) {
            messages.push(Message {
                sends: std::mem::take(&mut sends),
                text: std::mem::take(&mut text),
                accepts: std::mem::take(&mut accepts),
            });
            in_message = 0;
        }
    }
    Stream {
        messages,
        bytes,
        frames: spec.frames,
        inbound_frames,
    }
}

/// CPU time of the calling thread in ns, or wall time (see the crate doc).
struct ThreadTime;

/// The benchmark thread's clock, in ns from an arbitrary origin.
fn clock_ns() -> u64 {
    static ORIGIN: OnceLock<Option<Instant>> = OnceLock::new();
    let origin = ORIGIN.get_or_init(|| {
        let wall = std::env::var_os("RELAY_BENCH_WALL").is_some_and(|v| v == "1");
        (wall || thread_cpu_ns().is_none()).then(Instant::now)
    });
    match origin {
        Some(origin) => origin.elapsed().as_nanos() as u64,
        None => thread_cpu_ns().unwrap_or(0),
    }
}

/// CPU time of the calling thread in ns: `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`
/// (declared here: the crate has no `libc` dependency, and std links libc).
/// `/proc/thread-self/schedstat` would be simpler but only ticks every 4 ms.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec of the 64-bit Linux ABI.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Elsewhere: no thread clock, wall time is used.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

impl Measurement for ThreadTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        clock_ns()
    }
    fn end(&self, start: u64) -> u64 {
        clock_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, ns: &u64) -> f64 {
        *ns as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NsFormatter
    }
}

/// Nanoseconds, shown like criterion's wall time (decimal units per second).
struct NsFormatter;

impl ValueFormatter for NsFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per_iter, scale, unit) = match *throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n, 1e6, "MB/s"),
            Throughput::Elements(n) => (n, 1e3, "Kelem/s"),
        };
        for v in values.iter_mut() {
            *v = per_iter as f64 * 1e9 / *v / scale;
        }
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn decoder(c: &mut Criterion<ThreadTime>) {
    let stream = stream(MIXED, 0);
    let messages: Vec<&str> = stream.messages.iter().map(|m| m.text.as_str()).collect();
    let all: String = messages.concat();
    // The same frames with `type` as their last key, cut at the same places.
    let type_last = self::stream(
        Spec {
            type_first: false,
            ..MIXED
        },
        0,
    );
    let type_last: Vec<&str> = type_last.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(type_last.concat().len(), all.len());
    println!(
        "workload decoder bytes={} frames={} messages={} split_frames={}",
        stream.bytes,
        stream.frames,
        messages.len(),
        messages.iter().filter(|m| !m.ends_with('\n')).count(),
    );

    // Sanity: the decoder sees every frame as a well-formed frame.
    for messages in [&messages, &type_last] {
        let mut d = LineDecoder::default();
        let mut out = Vec::new();
        for m in messages {
            d.push(m, &mut out).expect("within the frame size limit");
        }
        assert_eq!(out.len(), stream.frames);
        assert!(out.iter().all(|o| matches!(o, LineOutcome::Frame(_))));
    }

    // The same-run comparison that drifting load cannot skew: passes of
    // the decoder and of the baseline alternate, and each adjacent pair
    // gives one speed ratio. Skipped when `cargo test` runs this once.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    for (name, decoded) in [
        ("line_decoder", &messages),
        ("line_decoder_type_last", &type_last),
    ] {
        if !benchmarking {
            break;
        }
        let (mut decoder, mut out) = (LineDecoder::default(), Vec::new());
        let (q1, median, q3) = paired_ratio(
            || decode_pass(&mut decoder, decoded, &mut out),
            || value_pass(&all),
        );
        println!(
            "paired decoder/{name} ratio_q1={q1:.3} ratio_median={median:.3} ratio_q3={q3:.3}"
        );
    }

    let mut group = c.benchmark_group("decoder");
    group.throughput(Throughput::BytesDecimal(stream.bytes as u64));
    for (name, messages) in [
        ("line_decoder", &messages),
        ("line_decoder_type_last", &type_last),
    ] {
        group.bench_function(name, |b| {
            let mut decoder = LineDecoder::default();
            let mut out = Vec::with_capacity(8);
            b.iter(|| decode_pass(&mut decoder, messages, &mut out))
        });
    }
    group.bench_function("serde_value", |b| b.iter(|| value_pass(&all)));
    group.finish();
}

/// Feeds every message to the decoder, dropping the outcomes as a
/// dispatcher would after handling them; returns the number of lines.
fn decode_pass(decoder: &mut LineDecoder, messages: &[&str], out: &mut Vec<LineOutcome>) -> usize {
    let mut n = 0;
    for m in messages {
        let _ = decoder.push(black_box(m), out);
        n += out.len();
        out.clear();
    }
    n
}

/// The baseline: split the bytes into lines, parse each into a `Value`.
fn value_pass(all: &str) -> usize {
    let mut n = 0;
    for line in black_box(all.as_bytes()).split(|&b| b == b'\n') {
        if !line.is_empty() {
            let value: Value = serde_json::from_slice(line).expect("valid JSON");
            black_box(&value);
            n += 1;
        }
    }
    n
}

/// Times `a` and `b` alternately (order swapped every pair) and returns the
/// quartiles of `time(b) / time(a)`: how many times faster `a` is.
fn paired_ratio(mut a: impl FnMut() -> usize, mut b: impl FnMut() -> usize) -> (f64, f64, f64) {
    let time = |f: &mut dyn FnMut() -> usize| {
        let start = clock_ns();
        black_box(f());
        clock_ns().saturating_sub(start).max(1) as f64
    };
    let mut ratios = Vec::new();
    for i in 0..340 {
        let (ta, tb) = if i % 2 == 0 {
            let ta = time(&mut a);
            (ta, time(&mut b))
        } else {
            let tb = time(&mut b);
            (time(&mut a), tb)
        };
        // The first pairs warm caches and the allocator up.
        if i >= 40 {
            ratios.push(tb / ta);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
    (q(0.25), q(0.5), q(0.75))
}

/// A link whose connection 1 is open and handshaken, commands drained.
fn handshaken_link(now: Instant) -> Link {
    let config = Config::builder("ws://connector.test")
        .gateway_id("gw-1")
        .secret("bench-secret")
        .identity("discord", "b1")
        .build()
        .expect("valid config");
    let mut link = Link::new(config, 7, now);
    let gen = Generation(1);
    link.handle_input(Input::Start, now);
    link.handle_input(Input::DialSucceeded { gen }, now);
    let descriptor = json!({
        "type": "descriptor",
        "descriptor": {
            "contract_version": 1, "platform": "discord", "label": "Discord",
            "max_message_length": 2000, "supports_draft_streaming": false,
            "supports_edit": true, "supports_threads": true,
            "markdown_dialect": "discord", "len_unit": "chars",
        },
    });
    link.handle_input(
        Input::Received {
            gen,
            text: format!("{descriptor}\n"),
        },
        now,
    );
    link.drain_commands();
    assert_eq!(link.state(), LinkState::Handshaken);
    link
}

/// The inputs a shell feeds for one cycle of `stream`.
fn inputs(stream: &Stream) -> Vec<Input> {
    let mut inputs = Vec::new();
    for m in &stream.messages {
        for id in &m.sends {
            let mut action = Map::new();
            action.insert("op".into(), "send".into());
            action.insert("chat_id".into(), "987654321098765432".into());
            action.insert(
                "text".into(),
                "On it: the deploy finished at 09:20 UTC.".into(),
            );
            inputs.push(Input::Send {
                id: id.clone(),
                action,
                platform: Some("discord".into()),
            });
        }
        inputs.push(Input::Received {
            gen: Generation(1),
            text: m.text.clone(),
        });
        for buffer_id in &m.accepts {
            inputs.push(Input::Accepted {
                buffer_id: buffer_id.clone(),
            });
        }
    }
    inputs
}

/// Feeds `inputs`, draining the commands after each one as a shell would.
fn feed(link: &mut Link, inputs: Vec<Input>, now: Instant) -> usize {
    let mut commands = 0;
    for input in inputs {
        link.handle_input(input, now);
        while let Some(command) = link.poll_command() {
            black_box(&command);
            commands += 1;
        }
    }
    commands
}

fn machine(c: &mut Criterion<ThreadTime>) {
    let mut group = c.benchmark_group("machine");
    for (name, spec) in [
        ("mixed", MIXED),
        ("inbound", INBOUND_ONLY),
        ("round_trip", ROUND_TRIPS),
    ] {
        let sample = stream(spec, 0);
        let sample_inputs = inputs(&sample);
        let sends = sample.messages.iter().map(|m| m.sends.len()).sum::<usize>();
        let accepts = sample
            .messages
            .iter()
            .map(|m| m.accepts.len())
            .sum::<usize>();
        println!(
            "workload machine/{name} inputs={} frames={} received={} messages={} sends={} accepts={} bytes={}",
            sample_inputs.len(),
            sample.frames + sends + accepts,
            sample.frames,
            sample.messages.len(),
            sends,
            accepts,
            sample.bytes,
        );

        // Sanity: every inbound is delivered, every request written and
        // settled with its result, every acceptance acked; nothing skipped.
        let now = Instant::now();
        let mut link = handshaken_link(now);
        let mut commands = Vec::new();
        for input in sample_inputs.clone() {
            link.handle_input(input, now);
            commands.extend(link.drain_commands());
        }
        let count = |f: fn(&Command) -> bool| commands.iter().filter(|c| f(c)).count();
        assert_eq!(
            count(|c| matches!(c, Command::Inbound(_))),
            sample.inbound_frames
        );
        assert_eq!(count(|c| matches!(c, Command::Settle { .. })), sends);
        assert_eq!(
            count(|c| matches!(c, Command::Send { .. })),
            sends + accepts
        );
        assert_eq!(commands.len(), sample.inbound_frames + 2 * sends + accepts);
        assert_eq!(link.pending_requests(), 0);
        assert_eq!(link.stats(), relay_link::Stats::default());

        group.throughput(Throughput::Elements(sample_inputs.len() as u64));
        group.bench_function(name, |b| {
            let now = Instant::now();
            let mut link = handshaken_link(now);
            let mut cycle = 1;
            b.iter_batched(
                || {
                    cycle += 1;
                    inputs(&stream(spec, cycle))
                },
                |inputs| feed(&mut link, inputs, now),
                BatchSize::SmallInput,
            );
            assert_eq!(link.state(), LinkState::Handshaken);
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = decoder, machine
}
criterion_main!(benches);
