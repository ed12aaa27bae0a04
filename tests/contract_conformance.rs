//! `docs/contract.md` against the code.
//!
//! The frame tables of the contract doc (one per direction, plus the
//! capability descriptor and the `forward` object) are parsed and compared
//! with what the protocol types actually read and write. Nothing on the
//! code side is a hand-copied list of names:
//!
//! * outgoing frames: a fully populated and a minimal instance of every
//!   `OutgoingFrame` variant are serialised with `to_line()`; their keys are
//!   the fields, and a key the minimal instance still writes is required.
//!   serde's own list of variant names must match the instances built here;
//! * incoming frames: a fully populated instance of every `IncomingFrame`
//!   variant is serialised, parsed back with `parse_line` (it must come back
//!   identical, with no unknown keys, and so must the `inbound` event once
//!   typed with `InboundFrame::event`), and each key is dropped in turn to
//!   see whether the parser still accepts the frame (optional) or not
//!   (required);
//! * the descriptor and the `forward` object: the same, through
//!   `Descriptor::to_value` / `from_value` and serde.
//!
//! Struct literals without `..` and `match`es without a wildcard make a new
//! variant or field a compile error here until this file (and so the doc)
//! is updated.
//!
//! The last tests check the implementation choices the doc states where the
//! shared contract is silent.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use relay_link::config::Config;
use relay_link::protocol::{
    parse_line, Descriptor, DescriptorFrame, GoingIdleAckFrame, InboundEvent, InboundFrame,
    IncomingFrame, InterruptInboundFrame, LenUnit, LineOutcome, OutboundResultFrame, OutgoingFrame,
    PassthroughForward, PassthroughFrame, Source, WireId,
};
use relay_link::{Command, Generation, Input, Link, LinkState, PlatformState, Settlement};
use serde_json::{json, Map, Value};

const CONTRACT_DOC: &str = include_str!("../docs/contract.md");

const OUTGOING_HEADING: &str = "### Gateway → connector";
const INCOMING_HEADING: &str = "### Connector → gateway";
const DESCRIPTOR_HEADING: &str = "### Capability descriptor";
const FORWARD_HEADING: &str = "### The `forward` object";

const FRAME_HEADER: [&str; 4] = ["type", "field", "required", "meaning"];
const OBJECT_HEADER: [&str; 3] = ["field", "required", "meaning"];

/// Fields and whether each is required, per frame type (or per object).
/// A frame without fields maps to an empty field map.
type Spec = BTreeMap<String, BTreeMap<String, bool>>;

// ----- reading the doc --------------------------------------------------------

/// The cells of a table row, trimmed and without surrounding backticks.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner
        .split('|')
        .map(|cell| {
            let cell = cell.trim();
            cell.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .unwrap_or(cell)
                .to_owned()
        })
        .collect()
}

/// The body rows of the first table after the line `heading`, whose header
/// row must be exactly `header`.
fn table_after(doc: &str, heading: &str, header: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let mut lines = doc.lines().skip_while(|line| line.trim() != heading);
    if lines.next().is_none() {
        return Err(format!("heading {heading:?} not found"));
    }
    let mut lines = lines
        .skip_while(|line| !line.trim_start().starts_with('|'))
        .take_while(|line| line.trim_start().starts_with('|'));
    let found = lines
        .next()
        .map(cells)
        .ok_or_else(|| format!("no table after {heading:?}"))?;
    if found != header {
        return Err(format!(
            "table after {heading:?}: header {found:?}, expected {header:?}"
        ));
    }
    let separator = lines.next().map(cells).unwrap_or_default();
    if separator.len() != header.len() || !separator.iter().all(|c| c.starts_with("---")) {
        return Err(format!("table after {heading:?}: bad separator row"));
    }
    let rows: Vec<Vec<String>> = lines.map(cells).collect();
    for row in &rows {
        if row.len() != header.len() {
            return Err(format!(
                "table after {heading:?}: row {row:?} has {} cells, expected {}",
                row.len(),
                header.len()
            ));
        }
    }
    Ok(rows)
}

fn required_cell(cell: &str, at: &str) -> Result<bool, String> {
    match cell {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!("{at}: required is {other:?}, expected yes or no")),
    }
}

/// A `| type | field | required | meaning |` table.
fn frame_table(doc: &str, heading: &str) -> Result<Spec, String> {
    let mut spec = Spec::new();
    let mut without_fields = BTreeSet::new();
    for row in table_after(doc, heading, &FRAME_HEADER)? {
        let (kind, field, required) = (&row[0], &row[1], &row[2]);
        let fields = spec.entry(kind.clone()).or_default();
        if field == "—" {
            if required != "—" {
                return Err(format!("`{kind}` without fields: required must be —"));
            }
            without_fields.insert(kind.clone());
            continue;
        }
        let at = format!("`{kind}`.`{field}`");
        if fields
            .insert(field.clone(), required_cell(required, &at)?)
            .is_some()
        {
            return Err(format!("{at} is listed twice"));
        }
    }
    if let Some(kind) = without_fields.iter().find(|kind| !spec[*kind].is_empty()) {
        return Err(format!("`{kind}` has both a — row and field rows"));
    }
    Ok(spec)
}

/// A `| field | required | meaning |` table, as a spec with one entry `name`.
fn object_table(doc: &str, heading: &str, name: &str) -> Result<Spec, String> {
    let mut fields = BTreeMap::new();
    for row in table_after(doc, heading, &OBJECT_HEADER)? {
        let at = format!("{name}.`{}`", row[0]);
        if fields
            .insert(row[0].clone(), required_cell(&row[1], &at)?)
            .is_some()
        {
            return Err(format!("{at} is listed twice"));
        }
    }
    Ok(Spec::from([(name.to_owned(), fields)]))
}

// ----- asking the code --------------------------------------------------------

fn object_of(line: &str) -> Map<String, Value> {
    match serde_json::from_str(line) {
        Ok(Value::Object(map)) => map,
        other => panic!("not a JSON object: {line:?} ({other:?})"),
    }
}

/// The keys of a frame line, without `type`.
fn frame_keys(line: &str) -> BTreeSet<String> {
    object_of(line)
        .keys()
        .filter(|key| *key != "type")
        .cloned()
        .collect()
}

/// Compile-time guard: a new `OutgoingFrame` variant fails to compile here
/// until it has an arm, and then needs an instance in
/// [`outgoing_instances`] and rows in the doc.
fn outgoing_variant(frame: &OutgoingFrame) -> &'static str {
    match frame {
        OutgoingFrame::Hello { .. } => "Hello",
        OutgoingFrame::Outbound { .. } => "Outbound",
        OutgoingFrame::Interrupt { .. } => "Interrupt",
        OutgoingFrame::GoingIdle => "GoingIdle",
        OutgoingFrame::InboundAck { .. } => "InboundAck",
    }
}

/// Every outgoing variant as (fully populated, minimal) instances.
fn outgoing_instances() -> Vec<(OutgoingFrame, OutgoingFrame)> {
    let mut action = Map::new();
    action.insert("op".into(), json!("send"));
    vec![
        (
            OutgoingFrame::Hello {
                platform: "discord".into(),
                bot_id: "b1".into(),
                extra: Map::new(),
            },
            OutgoingFrame::Hello {
                platform: "discord".into(),
                bot_id: String::new(),
                extra: Map::new(),
            },
        ),
        (
            OutgoingFrame::Outbound {
                request_id: "r1".into(),
                action: action.clone(),
                platform: Some("discord".into()),
                bot_id: Some("b1".into()),
            },
            OutgoingFrame::Outbound {
                request_id: "r1".into(),
                action,
                platform: None,
                bot_id: None,
            },
        ),
        (
            OutgoingFrame::Interrupt {
                session_key: "discord:c1".into(),
                reason: Some("user asked".into()),
            },
            OutgoingFrame::Interrupt {
                session_key: "discord:c1".into(),
                reason: None,
            },
        ),
        (OutgoingFrame::GoingIdle, OutgoingFrame::GoingIdle),
        (
            OutgoingFrame::InboundAck {
                buffer_id: "buf-1".into(),
            },
            OutgoingFrame::InboundAck {
                buffer_id: "buf-1".into(),
            },
        ),
    ]
}

/// The outgoing frame types serde itself knows, from its "unknown variant"
/// error (`… expected one of `hello`, `outbound`, …`).
fn outgoing_types_known_to_serde() -> BTreeSet<String> {
    let err = serde_json::from_str::<OutgoingFrame>(r#"{"type":"\u0000not a frame"}"#)
        .expect_err("no frame type is named like that");
    let message = err.to_string();
    let list = message
        .split_once("expected")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("unexpected serde message: {message}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn outgoing_spec() -> Spec {
    let mut spec = Spec::new();
    for (full, minimal) in outgoing_instances() {
        assert_eq!(outgoing_variant(&full), outgoing_variant(&minimal));
        let always = frame_keys(&minimal.to_line());
        let fields = frame_keys(&full.to_line())
            .into_iter()
            .map(|key| {
                let required = always.contains(&key);
                (key, required)
            })
            .collect();
        assert!(
            spec.insert(full.kind().to_owned(), fields).is_none(),
            "two instances of `{}`",
            full.kind()
        );
    }
    spec
}

/// Compile-time guard: a new `IncomingFrame` variant fails to compile here
/// until it has an arm, and then needs an instance in
/// [`incoming_instances`] and rows in the doc.
fn incoming_variant(frame: &IncomingFrame) -> &'static str {
    match frame {
        IncomingFrame::Descriptor(_) => "Descriptor",
        IncomingFrame::Inbound(_) => "Inbound",
        IncomingFrame::OutboundResult(_) => "OutboundResult",
        IncomingFrame::InterruptInbound(_) => "InterruptInbound",
        IncomingFrame::GoingIdleAck(_) => "GoingIdleAck",
        IncomingFrame::PassthroughForward(_) => "PassthroughForward",
    }
}

/// A descriptor with every field set to a value that survives sanitising.
fn full_descriptor() -> Descriptor {
    Descriptor {
        contract_version: 1,
        platform: "discord".into(),
        label: "Discord".into(),
        max_message_length: 2000,
        supports_draft_streaming: true,
        supports_edit: true,
        supports_threads: true,
        markdown_dialect: "discord".into(),
        len_unit: LenUnit::Utf16,
        emoji: "💬".into(),
        platform_hint: "be brief".into(),
        pii_safe: true,
        supports_context: true,
        supports_inchannel_continuable: true,
        supports_block_formatting: true,
        supported_ops: vec!["send".into(), "react".into()],
        extra: Map::new(),
    }
}

fn full_forward() -> PassthroughForward {
    PassthroughForward {
        platform: "slack".into(),
        bot_id: "B2".into(),
        method: "POST".into(),
        path: "/slack/events?retry=1".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"ok":true}"#.to_vec(),
        profile: Some(json!({"tier": 2})),
        extra: Map::new(),
    }
}

fn full_event() -> InboundEvent {
    InboundEvent {
        text: Some("hello".into()),
        message_type: Some("text".into()),
        message_id: Some(WireId::from(42)),
        source: Some(Source {
            platform: Some("discord".into()),
            chat_id: Some("c1".into()),
            chat_type: Some("dm".into()),
            user_id: Some("u1".into()),
            user_name: Some("Ada".into()),
            thread_id: Some("t1".into()),
            scope_id: Some("s1".into()),
            extra: Map::new(),
        }),
        media_urls: vec!["https://cdn.test/a.png".into()],
        extra: Map::new(),
    }
}

/// Every incoming variant, fully populated, without unknown keys.
fn incoming_instances() -> Vec<IncomingFrame> {
    let mut result = Map::new();
    result.insert("success".into(), json!(true));
    vec![
        IncomingFrame::Descriptor(DescriptorFrame {
            descriptor: full_descriptor(),
            extra: Map::new(),
        }),
        IncomingFrame::Inbound(InboundFrame {
            raw_event: full_event().to_raw_value(),
            buffer_id: Some("buf-1".into()),
            extra: Map::new(),
        }),
        IncomingFrame::OutboundResult(OutboundResultFrame {
            request_id: "r1".into(),
            result,
            extra: Map::new(),
        }),
        IncomingFrame::InterruptInbound(InterruptInboundFrame {
            session_key: "discord:c1".into(),
            chat_id: "c1".into(),
            extra: Map::new(),
        }),
        IncomingFrame::GoingIdleAck(GoingIdleAckFrame { extra: Map::new() }),
        IncomingFrame::PassthroughForward(PassthroughFrame {
            forward: full_forward(),
            buffer_id: Some("buf-2".into()),
            extra: Map::new(),
        }),
    ]
}

/// Whether `parse_line` accepts `object` as a frame of type `kind`.
fn accepted_as(kind: &str, object: &Map<String, Value>) -> bool {
    let line = Value::Object(object.clone()).to_string();
    matches!(parse_line(&line), LineOutcome::Frame(frame) if frame.kind() == kind)
}

fn incoming_spec() -> Spec {
    let mut spec = Spec::new();
    for frame in incoming_instances() {
        incoming_variant(&frame);
        let line = frame.to_line();
        let reparsed = parse_line(line.trim_end());
        assert_eq!(
            reparsed,
            LineOutcome::Frame(frame.clone()),
            "`{}` does not survive to_line → parse_line unchanged: the parser \
             and the serialiser disagree on a key",
            frame.kind()
        );
        if let LineOutcome::Frame(IncomingFrame::Inbound(inbound)) = &reparsed {
            // `event` is typed on demand, not by `parse_line`: the typed
            // event must come back identical as well.
            assert_eq!(
                inbound.event().ok(),
                Some(full_event()),
                "the `inbound` event does not survive typing: the event's \
                 parser and serialiser disagree on a key"
            );
        }
        let object = object_of(&line);
        let fields = frame_keys(&line)
            .into_iter()
            .map(|key| {
                let mut without = object.clone();
                without.remove(&key);
                let required = !accepted_as(frame.kind(), &without);
                (key, required)
            })
            .collect();
        assert!(
            spec.insert(frame.kind().to_owned(), fields).is_none(),
            "two instances of `{}`",
            frame.kind()
        );
    }
    spec
}

fn descriptor_spec() -> Spec {
    let full = full_descriptor();
    let Value::Object(object) = full.to_value() else {
        panic!("a descriptor serialises as an object");
    };
    assert_eq!(
        Descriptor::from_value(&Value::Object(object.clone())).as_ref(),
        Ok(&full),
        "a full descriptor does not survive to_value → from_value unchanged"
    );
    let fields = object
        .keys()
        .map(|key| {
            let mut without = object.clone();
            without.remove(key);
            let required = Descriptor::from_value(&Value::Object(without)).is_err();
            (key.clone(), required)
        })
        .collect();
    Spec::from([("descriptor".to_owned(), fields)])
}

fn forward_spec() -> Spec {
    let full = full_forward();
    let Ok(Value::Object(object)) = serde_json::to_value(&full) else {
        panic!("a forward serialises as an object");
    };
    let back: PassthroughForward =
        serde_json::from_value(Value::Object(object.clone())).expect("a full forward parses");
    assert_eq!(back, full, "a full forward does not survive a round trip");
    let fields = object
        .keys()
        .map(|key| {
            let mut without = object.clone();
            without.remove(key);
            let required =
                serde_json::from_value::<PassthroughForward>(Value::Object(without)).is_err();
            (key.clone(), required)
        })
        .collect();
    Spec::from([("forward".to_owned(), fields)])
}

// ----- comparing --------------------------------------------------------------

fn yes_no(required: bool) -> &'static str {
    if required {
        "yes"
    } else {
        "no"
    }
}

/// Every difference between the doc's spec and the code's, one per line.
fn differences(what: &str, doc: &Spec, code: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    for kind in doc.keys().filter(|kind| !code.contains_key(*kind)) {
        out.push(format!(
            "{what}: `{kind}` is in the doc but not in the code"
        ));
    }
    for kind in code.keys().filter(|kind| !doc.contains_key(*kind)) {
        out.push(format!(
            "{what}: `{kind}` is in the code but not in the doc"
        ));
    }
    for (kind, doc_fields) in doc {
        let Some(code_fields) = code.get(kind) else {
            continue;
        };
        for (field, required) in doc_fields {
            match code_fields.get(field) {
                None => out.push(format!(
                    "{what}: `{kind}`.`{field}` is in the doc but not in the code"
                )),
                Some(actual) if actual != required => out.push(format!(
                    "{what}: `{kind}`.`{field}` is required={} in the doc but \
                     required={} in the code",
                    yes_no(*required),
                    yes_no(*actual)
                )),
                Some(_) => {}
            }
        }
        for field in code_fields.keys().filter(|f| !doc_fields.contains_key(*f)) {
            out.push(format!(
                "{what}: `{kind}`.`{field}` is in the code but not in the doc"
            ));
        }
    }
    out
}

/// Checks every table of `doc` against the code.
fn check_doc(doc: &str) -> Vec<String> {
    let tables: [(&str, Result<Spec, String>, Spec); 4] = [
        (
            "gateway → connector",
            frame_table(doc, OUTGOING_HEADING),
            outgoing_spec(),
        ),
        (
            "connector → gateway",
            frame_table(doc, INCOMING_HEADING),
            incoming_spec(),
        ),
        (
            "descriptor",
            object_table(doc, DESCRIPTOR_HEADING, "descriptor"),
            descriptor_spec(),
        ),
        (
            "forward",
            object_table(doc, FORWARD_HEADING, "forward"),
            forward_spec(),
        ),
    ];
    let mut out = Vec::new();
    for (what, doc_spec, code_spec) in tables {
        match doc_spec {
            Ok(doc_spec) => out.extend(differences(what, &doc_spec, &code_spec)),
            Err(e) => out.push(format!("{what}: {e}")),
        }
    }
    out
}

#[test]
fn every_frame_and_field_in_the_contract_doc_matches_the_protocol_types() {
    let problems = check_doc(CONTRACT_DOC);
    assert!(
        problems.is_empty(),
        "docs/contract.md and the protocol types disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_outgoing_instances_cover_every_variant_serde_knows() {
    let built: BTreeSet<String> = outgoing_instances()
        .iter()
        .map(|(full, _)| full.kind().to_owned())
        .collect();
    assert_eq!(built, outgoing_types_known_to_serde());
}

#[test]
fn the_doc_lists_exactly_the_frame_types_the_code_builds() {
    let doc_out: BTreeSet<String> = frame_table(CONTRACT_DOC, OUTGOING_HEADING)
        .expect("outgoing table")
        .into_keys()
        .collect();
    let code_out: BTreeSet<String> = outgoing_instances()
        .iter()
        .map(|(full, _)| full.kind().to_owned())
        .collect();
    assert_eq!(doc_out, code_out);
    let doc_in: BTreeSet<String> = frame_table(CONTRACT_DOC, INCOMING_HEADING)
        .expect("incoming table")
        .into_keys()
        .collect();
    let code_in: BTreeSet<String> = incoming_instances()
        .iter()
        .map(|frame| frame.kind().to_owned())
        .collect();
    assert_eq!(doc_in, code_in);
}

/// The checker itself: a doc that drops a field, invents one, gets a
/// `required` wrong or drops a whole frame type is reported, each time.
#[test]
fn a_doc_that_drifts_from_the_code_is_reported() {
    let ack_row = CONTRACT_DOC
        .lines()
        .find(|line| line.starts_with("| `inbound_ack` | `bufferId` |"))
        .expect("the inbound_ack row");
    let idle_ack_row = CONTRACT_DOC
        .lines()
        .find(|line| line.starts_with("| `going_idle_ack` | — |"))
        .expect("the going_idle_ack row");
    let platform_row = CONTRACT_DOC
        .lines()
        .find(|line| line.starts_with("| `outbound` | `platform` | no |"))
        .expect("the outbound platform row");
    let emoji_row = CONTRACT_DOC
        .lines()
        .find(|line| line.starts_with("| `emoji` | no |"))
        .expect("the emoji row");
    let drifted = CONTRACT_DOC
        .replacen(&format!("{ack_row}\n"), "", 1)
        .replacen(&format!("{idle_ack_row}\n"), "", 1)
        .replacen(
            platform_row,
            &platform_row.replacen("| no |", "| yes |", 1),
            1,
        )
        .replacen(
            emoji_row,
            &format!("{emoji_row}\n| `nickname` | no | Invented. |"),
            1,
        );
    let problems = check_doc(&drifted);
    for expected in [
        "gateway → connector: `inbound_ack` is in the code but not in the doc",
        "connector → gateway: `going_idle_ack` is in the code but not in the doc",
        "gateway → connector: `outbound`.`platform` is required=yes in the doc but required=no in the code",
        "descriptor: `descriptor`.`nickname` is in the doc but not in the code",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "not reported: {expected}\nreported:\n  {}",
            problems.join("\n  ")
        );
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn a_renamed_table_header_is_reported_instead_of_read_as_empty() {
    let drifted = CONTRACT_DOC.replacen(
        "| type | field | required | meaning |",
        "| type | key | required | meaning |",
        1,
    );
    let problems = check_doc(&drifted);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("gateway → connector: table after")),
        "{problems:#?}"
    );
}

// ----- the implementation choices the doc states --------------------------------

const DESCRIPTOR_LINE: &str = concat!(
    r#"{"type":"descriptor","descriptor":{"contract_version":1,"platform":"discord","#,
    r#""label":"Discord","max_message_length":2000,"supports_draft_streaming":false,"#,
    r#""supports_edit":true,"supports_threads":true,"markdown_dialect":"discord","#,
    r#""len_unit":"chars"}}"#,
    "\n"
);

/// A link with a hand-driven clock.
struct Driver {
    link: Link,
    t0: Instant,
}

impl Driver {
    fn started() -> Self {
        let config = Config::builder("ws://connector.test")
            .gateway_id("gw-1")
            .secret("s3cret")
            .identity("discord", "b1")
            .build()
            .expect("valid config");
        let t0 = Instant::now();
        let mut link = Link::new(config, 7, t0);
        link.handle_input(Input::Start, t0);
        link.drain_commands();
        Self { link, t0 }
    }

    fn input(&mut self, ms: u64, input: Input) -> Vec<Command> {
        self.link
            .handle_input(input, self.t0 + Duration::from_millis(ms));
        self.link.drain_commands().into_iter().collect()
    }

    fn timeout(&mut self, ms: u64) -> Vec<Command> {
        self.link
            .handle_timeout(self.t0 + Duration::from_millis(ms));
        self.link.drain_commands().into_iter().collect()
    }

    /// Connection `gen` opens at `ms` and handshakes 20 ms later.
    fn handshake(&mut self, ms: u64, gen: u64) {
        let gen = Generation(gen);
        self.input(ms, Input::DialSucceeded { gen });
        self.input(
            ms + 20,
            Input::Received {
                gen,
                text: DESCRIPTOR_LINE.into(),
            },
        );
        assert_eq!(self.link.state(), LinkState::Handshaken);
    }

    fn close(&mut self, ms: u64, gen: u64, code: u16, reason: &str) -> Vec<Command> {
        self.input(
            ms,
            Input::SocketClosed {
                gen: Generation(gen),
                code: Some(code),
                reason: reason.into(),
            },
        )
    }

    fn send(&mut self, ms: u64, id: &str) -> Vec<Command> {
        let mut action = Map::new();
        action.insert("op".into(), json!("send"));
        self.input(
            ms,
            Input::Send {
                id: id.into(),
                action,
                platform: None,
            },
        )
    }
}

fn dials(commands: &[Command]) -> usize {
    commands
        .iter()
        .filter(|c| matches!(c, Command::Dial { .. }))
        .count()
}

#[test]
fn a_redial_hold_also_parks_the_provisional_redial() {
    let mut d = Driver::started();
    d.handshake(20, 1);
    d.input(1_000, Input::HoldRedial);
    let strike = d.close(2_000, 1, 4401, "unauthorized");
    assert_eq!(dials(&strike), 0, "the held re-dial went out: {strike:?}");
    assert_eq!(d.link.state(), LinkState::Held);
    assert_eq!(d.link.platform_state(), Some(PlatformState::Retrying));

    let released = d.input(3_000, Input::ReleaseRedial);
    assert!(released.contains(&Command::Dial {
        gen: Generation(2),
        auth: true
    }));
    // The judgement stayed armed while held: this 4401 is the second strike.
    d.input(3_020, Input::DialSucceeded { gen: Generation(2) });
    let second = d.close(3_030, 2, 4401, "unauthorized");
    assert!(
        second.iter().any(|c| matches!(c, Command::Fatal(_))),
        "{second:?}"
    );
    assert_eq!(d.link.state(), LinkState::Revoked);
}

#[test]
fn dormant_and_held_links_report_platform_state_retrying() {
    let mut d = Driver::started();
    d.handshake(20, 1);
    d.input(1_000, Input::GoDormant);
    d.input(
        1_050,
        Input::Received {
            gen: Generation(1),
            text: "{\"type\":\"going_idle_ack\"}\n".into(),
        },
    );
    assert_eq!(d.link.state(), LinkState::Dormant);
    assert_eq!(d.link.platform_state(), Some(PlatformState::Retrying));

    d.input(1_100, Input::HoldRedial);
    let due = d.timeout(2_050);
    assert_eq!(dials(&due), 0, "{due:?}");
    assert_eq!(d.link.state(), LinkState::Held);
    assert_eq!(d.link.platform_state(), Some(PlatformState::Retrying));
}

#[test]
fn a_duplicate_pending_request_id_is_refused_and_the_original_stays_pending() {
    let mut d = Driver::started();
    d.handshake(20, 1);
    let first = d.send(100, "r1");
    assert!(first.iter().any(|c| matches!(c, Command::Send { .. })));
    let again = d.send(200, "r1");
    assert_eq!(
        again,
        vec![Command::Settle {
            id: "r1".into(),
            settlement: Settlement::DuplicateId
        }]
    );
    assert_eq!(
        Settlement::DuplicateId.to_json(),
        json!({"success": false, "error": "relay request id already pending"})
    );
    assert!(!Settlement::DuplicateId.is_ambiguous());
    assert_eq!(d.link.pending_requests(), 1);
}

#[test]
fn an_outbound_result_whose_result_is_not_an_object_is_malformed() {
    assert!(matches!(
        parse_line(r#"{"type":"outbound_result","requestId":"r1","result":"ok"}"#),
        LineOutcome::Malformed(_)
    ));
    let LineOutcome::Frame(IncomingFrame::OutboundResult(frame)) =
        parse_line(r#"{"type":"outbound_result","requestId":"r1","result":null}"#)
    else {
        panic!("a null result is accepted");
    };
    assert!(frame.result.is_empty());
}

#[test]
fn an_expired_close_ends_the_judged_connection_but_leaves_an_armed_judgement_armed() {
    // Armed, and the fresh-token connection is closed `expired` before its
    // descriptor: still armed, so the next refusal revokes.
    let mut d = Driver::started();
    d.handshake(20, 1);
    d.close(1_000, 1, 4401, "unauthorized");
    d.input(1_020, Input::DialSucceeded { gen: Generation(2) });
    d.close(1_030, 2, 4401, "expired");
    assert_eq!(d.link.state(), LinkState::Retrying);
    let redial = d.timeout(3_000);
    assert_eq!(dials(&redial), 1);
    d.input(3_020, Input::DialSucceeded { gen: Generation(3) });
    let refused = d.close(3_030, 3, 4401, "unauthorized");
    assert!(refused.iter().any(|c| matches!(c, Command::Fatal(_))));

    // Armed, the fresh-token connection handshakes (judged), then is closed
    // `expired`: the judgement is over, so a later 4401 is a first strike.
    let mut d = Driver::started();
    d.handshake(20, 1);
    d.close(1_000, 1, 4401, "unauthorized");
    d.handshake(1_020, 2);
    d.close(5_000, 2, 4401, "expired");
    d.timeout(7_000);
    d.handshake(7_020, 3);
    let later = d.close(9_000, 3, 4401, "unauthorized");
    assert!(!later.iter().any(|c| matches!(c, Command::Fatal(_))));
    assert!(later.contains(&Command::Dial {
        gen: Generation(4),
        auth: true
    }));
}
