use serde_json::{json, Map, Value};

use super::*;
use crate::RequestId;

fn frame(line: &str) -> IncomingFrame {
    match parse_line(line) {
        LineOutcome::Frame(f) => f,
        other => panic!("expected a frame from {line}, got {other:?}"),
    }
}

fn descriptor_json() -> Value {
    json!({
        "contract_version": 1, "platform": "discord", "label": "Discord",
        "max_message_length": 2000, "supports_draft_streaming": true,
        "supports_edit": true, "supports_threads": true,
        "markdown_dialect": "discord", "len_unit": "chars",
    })
}

fn as_value(line: &str) -> Value {
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn hello_serialises_with_bot_id_key() {
    let hello = OutgoingFrame::Hello {
        platform: "discord".into(),
        bot_id: "B1".into(),
        extra: Map::new(),
    };
    assert_eq!(
        hello.to_line(),
        "{\"type\":\"hello\",\"platform\":\"discord\",\"botId\":\"B1\"}\n"
    );
    assert_eq!(hello.kind(), "hello");
}

#[test]
fn hello_extras_follow_the_contract_keys_untouched_and_read_back() {
    let manifest =
        json!([{"name": "ask", "options": [{"type": 3, "nested": {"deep": [1, 2.5, null]}}]}]);
    let mut extra = Map::new();
    extra.insert("command_manifest".into(), manifest.clone());
    extra.insert("relevance".into(), json!({"mode": "mentions"}));
    let hello = OutgoingFrame::Hello {
        platform: "discord".into(),
        bot_id: "B1".into(),
        extra,
    };
    let line = hello.to_line();
    assert!(
        line.starts_with(
            "{\"type\":\"hello\",\"platform\":\"discord\",\"botId\":\"B1\",\"command_manifest\":"
        ),
        "{line}"
    );
    let value = as_value(&line);
    assert_eq!(value["command_manifest"], manifest);
    assert_eq!(value["relevance"], json!({"mode": "mentions"}));
    assert_eq!(
        serde_json::from_str::<OutgoingFrame>(&line).ok(),
        Some(hello)
    );
}

#[test]
fn a_hello_extra_named_like_a_contract_key_is_never_written() {
    let mut extra = Map::new();
    for key in HELLO_KEYS {
        extra.insert(key.into(), json!("spoofed"));
    }
    extra.insert("kept".into(), json!(1));
    let hello = OutgoingFrame::Hello {
        platform: "discord".into(),
        bot_id: "B1".into(),
        extra,
    };
    assert_eq!(
        hello.to_line(),
        "{\"type\":\"hello\",\"platform\":\"discord\",\"botId\":\"B1\",\"kept\":1}\n"
    );
}

#[test]
fn outbound_without_platform_omits_platform_and_bot_id() {
    let mut action = Map::new();
    action.insert("op".into(), json!("send"));
    let frame = OutgoingFrame::Outbound {
        request_id: RequestId::new("r1"),
        action,
        platform: None,
        bot_id: None,
    };
    assert_eq!(
        frame.to_line(),
        "{\"type\":\"outbound\",\"requestId\":\"r1\",\"action\":{\"op\":\"send\"}}\n"
    );
}

#[test]
fn outbound_with_platform_writes_platform_and_bot_id() {
    let frame = OutgoingFrame::Outbound {
        request_id: RequestId::new("r1"),
        action: Map::new(),
        platform: Some("slack".into()),
        bot_id: Some("B2".into()),
    };
    let v = as_value(&frame.to_line());
    assert_eq!(v["platform"], "slack");
    assert_eq!(v["botId"], "B2");
    assert_eq!(frame.kind(), "outbound");
}

#[test]
fn interrupt_always_writes_reason_even_when_null() {
    let frame = OutgoingFrame::Interrupt {
        session_key: "s1".into(),
        reason: None,
    };
    assert_eq!(
        frame.to_line(),
        "{\"type\":\"interrupt\",\"session_key\":\"s1\",\"reason\":null}\n"
    );
}

#[test]
fn going_idle_and_inbound_ack_serialise_as_the_contract_says() {
    assert_eq!(
        OutgoingFrame::GoingIdle.to_line(),
        "{\"type\":\"going_idle\"}\n"
    );
    let ack = OutgoingFrame::InboundAck {
        buffer_id: "b7".into(),
    };
    assert_eq!(
        ack.to_line(),
        "{\"type\":\"inbound_ack\",\"bufferId\":\"b7\"}\n"
    );
    assert_eq!(
        (OutgoingFrame::GoingIdle.kind(), ack.kind()),
        ("going_idle", "inbound_ack")
    );
}

#[test]
fn outgoing_lines_hold_exactly_one_newline_even_with_newlines_in_strings() {
    let frame = OutgoingFrame::Interrupt {
        session_key: "a\nb".into(),
        reason: Some("line1\r\nline2".into()),
    };
    let line = frame.to_line();
    assert_eq!(line.matches('\n').count(), 1);
    assert!(line.ends_with('\n'));
    assert_eq!(
        serde_json::from_str::<OutgoingFrame>(&line).ok(),
        Some(frame)
    );
}

#[test]
fn blank_lines_are_blank() {
    for line in ["", "   ", "\t\r"] {
        assert_eq!(parse_line(line), LineOutcome::Blank);
    }
}

#[test]
fn not_json_and_non_objects_are_malformed() {
    assert_eq!(
        parse_line("{nope"),
        LineOutcome::Malformed(MalformedLine::NotJson)
    );
    assert_eq!(
        parse_line("{} trailing"),
        LineOutcome::Malformed(MalformedLine::NotJson)
    );
    for line in [
        "[1,{\"type\":\"inbound\"}]",
        "42",
        "\"inbound\"",
        "null",
        "true",
    ] {
        assert_eq!(
            parse_line(line),
            LineOutcome::Malformed(MalformedLine::NotAnObject),
            "{line}"
        );
    }
    assert_eq!(MalformedLine::NotJson.to_string(), "line is not valid JSON");
}

#[test]
fn unknown_type_is_ignored() {
    assert_eq!(
        parse_line(r#"{"type":"future_thing","x":{"y":[1,2]}}"#),
        LineOutcome::Ignored {
            kind: Some("future_thing".into())
        }
    );
    assert_eq!(
        parse_line(r#"{"x":1,"type":"later"}"#),
        LineOutcome::Ignored {
            kind: Some("later".into())
        }
    );
}

#[test]
fn missing_type_is_ignored() {
    assert_eq!(
        parse_line(r#"{"event":{}}"#),
        LineOutcome::Ignored { kind: None }
    );
    assert_eq!(parse_line("{}"), LineOutcome::Ignored { kind: None });
    assert_eq!(
        parse_line(r#"{"type":7}"#),
        LineOutcome::Ignored { kind: None }
    );
}

#[test]
fn outbound_result_without_request_id_is_malformed() {
    assert_eq!(
        parse_line(r#"{"type":"outbound_result","result":{}}"#),
        LineOutcome::Malformed(MalformedLine::InvalidFields {
            kind: "outbound_result"
        })
    );
    assert_eq!(
        parse_line(r#"{"requestId":5,"type":"outbound_result"}"#),
        LineOutcome::Malformed(MalformedLine::InvalidFields {
            kind: "outbound_result"
        })
    );
}

#[test]
fn invalid_fields_followed_by_broken_json_is_not_json() {
    assert_eq!(
        parse_line(r#"{"type":"outbound_result","requestId":5,"#),
        LineOutcome::Malformed(MalformedLine::NotJson)
    );
}

#[test]
fn outbound_result_without_result_is_an_empty_object() {
    let IncomingFrame::OutboundResult(f) = frame(r#"{"type":"outbound_result","requestId":"r1"}"#)
    else {
        panic!("wrong kind");
    };
    assert_eq!(f.request_id, RequestId::new("r1"));
    assert!(f.result.is_empty());
    let IncomingFrame::OutboundResult(f) =
        frame(r#"{"type":"outbound_result","requestId":"r1","result":null}"#)
    else {
        panic!("wrong kind");
    };
    assert!(f.result.is_empty());
}

#[test]
fn outbound_result_keeps_its_result_object() {
    let f =
        frame(r#"{"type":"outbound_result","requestId":"r1","result":{"success":true,"id":"m1"}}"#);
    let IncomingFrame::OutboundResult(f) = f else {
        panic!("wrong kind");
    };
    assert_eq!(f.result.get("success"), Some(&json!(true)));
    assert_eq!(f.result.get("id"), Some(&json!("m1")));
}

#[test]
fn a_sparse_inbound_event_parses() {
    let f = frame(r#"{"type":"inbound","event":{}}"#);
    assert_eq!(f.kind(), "inbound");
    assert_eq!(f.buffer_id(), None);
    let IncomingFrame::Inbound(f) = f else {
        panic!("wrong kind");
    };
    assert_eq!(f.raw_event.get(), "{}");
    assert_eq!(f.event().ok(), Some(InboundEvent::default()));
}

#[test]
fn inbound_event_reads_known_fields_and_numeric_ids() {
    let line = r#"{"type":"inbound","bufferId":"b1","event":{"text":"hi","message_type":"text","message_id":123,"source":{"platform":"telegram","chat_id":-100,"chat_type":"group","user_id":"u1","user_name":"Ann","thread_id":null},"media_urls":["https://x/y.png"]}}"#;
    let f = frame(line);
    assert_eq!(f.buffer_id(), Some("b1"));
    let IncomingFrame::Inbound(f) = f else {
        panic!("wrong kind");
    };
    let e = f.event().expect("a well-typed event");
    assert_eq!(e.text.as_deref(), Some("hi"));
    assert_eq!(e.message_id, Some(WireId::from(123)));
    assert_eq!(e.media_urls, ["https://x/y.png"]);
    let source = e.source.expect("source");
    assert_eq!(
        source.chat_id.map(|id| id.to_string()).as_deref(),
        Some("-100")
    );
    assert_eq!(
        source.user_id.as_ref().map(|id| id.as_text()).as_deref(),
        Some("u1")
    );
    assert_eq!(source.thread_id, None);
    assert_eq!(source.user_name.as_deref(), Some("Ann"));
}

#[test]
fn inbound_without_an_event_object_is_malformed() {
    for line in [
        r#"{"type":"inbound"}"#,
        r#"{"type":"inbound","event":null}"#,
        r#"{"type":"inbound","event":"hi"}"#,
        r#"{"type":"inbound","event":[{"text":"hi"}]}"#,
        r#"{"type":"inbound","bufferId":"b1","event":7}"#,
        r#"{"event":null,"type":"inbound"}"#,
        r#"{"event":null,"typ\u0065":"inbound"}"#,
    ] {
        assert_eq!(
            parse_line(line),
            LineOutcome::Malformed(MalformedLine::InvalidFields { kind: "inbound" }),
            "{line}"
        );
    }
    // Broken JSON inside the event is still broken JSON.
    assert_eq!(
        parse_line(r#"{"type":"inbound","event":{"text":"hi",}}"#),
        LineOutcome::Malformed(MalformedLine::NotJson)
    );
}

#[test]
fn a_wrongly_typed_event_field_fails_only_when_the_event_is_typed() {
    let IncomingFrame::Inbound(f) =
        frame(r#"{"type":"inbound","event":{"text":42},"bufferId":"b"}"#)
    else {
        panic!("wrong kind");
    };
    assert_eq!(f.buffer_id.as_deref(), Some("b"));
    assert_eq!(f.raw_event.get(), r#"{"text":42}"#);
    assert!(f.event().is_err());
}

#[test]
fn the_raw_event_is_written_back_exactly_as_it_came() {
    let event = r#"{ "text" : "h\u00e9 \"x\"", "n":1.50, "big":123456789012345678901234567890, "z":{"b":1,"a":2} }"#;
    let line = format!(r#"{{"type":"inbound","event":{event},"bufferId":"b1"}}"#);
    let f = frame(&line);
    let IncomingFrame::Inbound(inbound) = &f else {
        panic!("wrong kind");
    };
    assert_eq!(inbound.raw_event.get(), event);
    assert_eq!(f.to_line(), format!("{line}\n"));
    let typed = inbound.event().expect("a well-typed event");
    assert_eq!(typed.text.as_deref(), Some("hé \"x\""));
    assert_eq!(typed.extra["z"], json!({"a": 2, "b": 1}));
}

#[test]
fn a_built_frame_round_trips_and_stays_on_one_line() {
    let event = InboundEvent {
        text: Some("line 1\nline 2".into()),
        message_id: Some(WireId::from(9)),
        ..InboundEvent::default()
    };
    let mut built = InboundFrame::new(&event);
    built.buffer_id = Some("b2".into());
    assert_eq!(built.event().ok(), Some(event));
    let line = IncomingFrame::Inbound(built.clone()).to_line();
    assert_eq!(frame(line.trim_end()), IncomingFrame::Inbound(built));

    // Raw text from elsewhere may be pretty-printed: its line breaks are
    // whitespace and become spaces, so the frame is still one line.
    let pretty = serde_json::value::RawValue::from_string("{\n  \"text\": \"a\\nb\"\n}".into())
        .expect("valid JSON");
    let f = InboundFrame {
        raw_event: pretty,
        buffer_id: None,
        extra: Map::new(),
    };
    let line = IncomingFrame::Inbound(f).to_line();
    assert_eq!(
        line,
        "{\"type\":\"inbound\",\"event\":{   \"text\": \"a\\nb\" }}\n"
    );
    let IncomingFrame::Inbound(back) = frame(line.trim_end()) else {
        panic!("wrong kind");
    };
    assert_eq!(
        back.event().ok().and_then(|e| e.text).as_deref(),
        Some("a\nb")
    );
}

#[test]
fn interrupt_inbound_accepts_a_numeric_chat_id() {
    let IncomingFrame::InterruptInbound(f) =
        frame(r#"{"type":"interrupt_inbound","session_key":"s","chat_id":42}"#)
    else {
        panic!("wrong kind");
    };
    assert_eq!((f.session_key.as_str(), f.chat_id.as_str()), ("s", "42"));
}

#[test]
fn a_descriptor_frame_carries_the_sanitised_descriptor() {
    let mut d = descriptor_json();
    d["max_message_length"] = json!(0);
    let line = json!({"type": "descriptor", "descriptor": d}).to_string();
    let IncomingFrame::Descriptor(f) = frame(&line) else {
        panic!("wrong kind");
    };
    assert_eq!(f.descriptor.max_message_length, 4096);
    assert_eq!(f.descriptor.platform, "discord");
}

#[test]
fn a_bad_descriptor_is_a_protocol_error() {
    let mut d = descriptor_json();
    d.as_object_mut().map(|o| o.remove("label"));
    let line = json!({"type": "descriptor", "descriptor": d}).to_string();
    assert_eq!(
        parse_line(&line),
        LineOutcome::ProtocolError(DescriptorError::Missing { field: "label" })
    );
    assert_eq!(
        parse_line(r#"{"type":"descriptor"}"#),
        LineOutcome::ProtocolError(DescriptorError::Missing {
            field: "descriptor"
        })
    );
    assert_eq!(
        parse_line(r#"{"type":"descriptor","descriptor":[]}"#),
        LineOutcome::ProtocolError(DescriptorError::NotAnObject)
    );
}

#[test]
fn passthrough_forward_decodes_body_and_buffer_id() {
    let line = r#"{"type":"passthrough_forward","bufferId":"b9","forward":{"platform":"slack","botId":"B","method":"POST","path":"/e","headers":[["a","b"],["bad"]],"bodyB64":"%%%"}}"#;
    let f = frame(line);
    assert_eq!(f.buffer_id(), Some("b9"));
    let IncomingFrame::PassthroughForward(f) = f else {
        panic!("wrong kind");
    };
    assert!(f.forward.body.is_empty());
    assert_eq!(f.forward.headers, [("a".to_owned(), "b".to_owned())]);
}

#[test]
fn type_after_other_keys_still_parses() {
    let f =
        frame(r#"{"requestId":"r2","result":{"ok":1},"extra_key":true,"type":"outbound_result"}"#);
    let IncomingFrame::OutboundResult(f) = f else {
        panic!("wrong kind");
    };
    assert_eq!(f.request_id.as_str(), "r2");
    assert_eq!(f.result.get("ok"), Some(&json!(1)));
    assert_eq!(f.extra.get("extra_key"), Some(&json!(true)));
}

#[test]
fn a_repeated_type_key_is_decided_by_the_first() {
    let f = frame(r#"{"type":"going_idle_ack","type":"inbound"}"#);
    assert_eq!(f.kind(), "going_idle_ack");
    assert!(!f.to_line().contains("inbound"));
}

#[test]
fn keys_of_other_frame_types_are_kept_as_unknown() {
    let f = frame(r#"{"type":"going_idle_ack","event":{"text":1},"bufferId":3}"#);
    assert_eq!(f.extra().get("event"), Some(&json!({"text": 1})));
    assert_eq!(f.extra().get("bufferId"), Some(&json!(3)));
    assert_eq!(f.buffer_id(), None);
}

#[test]
fn unknown_fields_survive_a_round_trip_for_every_frame() {
    let mut d = descriptor_json();
    d["future_capability"] = json!({"level": 3});
    let lines = [
        json!({"type": "descriptor", "descriptor": d, "top": 1}),
        json!({"type": "inbound", "bufferId": "b1", "top": [1, "x"],
            "event": {"text": "hi", "message_id": 7, "reactions": {"+1": 2},
                "source": {"platform": "discord", "chat_id": "c", "guild": {"id": "g"}},
                "media_urls": ["u"]}}),
        json!({"type": "outbound_result", "requestId": "r", "result": {"success": true, "x": null}, "top": "t"}),
        json!({"type": "interrupt_inbound", "session_key": "s", "chat_id": "c", "top": false}),
        json!({"type": "going_idle_ack", "top": {"deep": [null]}}),
        json!({"type": "passthrough_forward", "bufferId": "b2", "top": 0.5,
            "forward": {"platform": "slack", "botId": "B", "method": "POST", "path": "/p",
                "headers": [["h", "v"]], "bodyB64": "aGk=", "profile": {"p": 1}, "later": "kept"}}),
    ];
    for original in lines {
        let f = frame(&original.to_string());
        let line = f.to_line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let back = as_value(&line);
        assert_eq!(back["top"], original["top"], "{line}");
        if f.kind() == "descriptor" {
            assert_eq!(back["descriptor"]["future_capability"], json!({"level": 3}));
        } else {
            assert_eq!(back, original, "{line}");
        }
        assert_eq!(frame(&line), f, "reparse of {line}");
    }
}

#[test]
fn the_type_scan_finds_only_the_top_level_type_key() {
    use super::lex::scan_type;
    assert_eq!(scan_type(r#"{"type":"inbound"}"#), Some("inbound"));
    assert_eq!(
        scan_type(r#" { "event" : {"type":"x","l":["type"]} , "type" : "y" }"#),
        Some("y")
    );
    assert_eq!(
        scan_type(r#"{"a":"type","b":"\"type\":","type":"z"}"#),
        Some("z")
    );
    assert_eq!(scan_type(r#"{"type":"in\u0062ound"}"#), None);
    assert_eq!(scan_type(r#"{"type":3}"#), None);
    assert_eq!(scan_type(r#"{"a":{"type":"x"}}"#), None);
    assert_eq!(scan_type(r#"[{"type":"x"}]"#), None);
    assert_eq!(scan_type(r#"{"type":"unterminated"#), None);
}

#[test]
fn the_tail_check_finds_a_type_that_closes_the_line() {
    use super::lex::tail_type;
    assert_eq!(tail_type(r#"{"a":1,"type":"inbound"}"#), Some("inbound"));
    assert_eq!(
        tail_type(r#"{"a":1 , "type" : "inbound"}  "#),
        Some("inbound")
    );
    assert_eq!(tail_type(r#"{"type":"x"}"#), Some("x"));
    // Not a member that ends the object: no guess.
    assert_eq!(tail_type(r#"{"a":{"type":"x"}}"#), None);
    assert_eq!(tail_type(r#"{"a":"type","b":"x"}"#), None);
    assert_eq!(tail_type(r#"{"mytype":"x"}"#), None);
    assert_eq!(tail_type(r#"{"a":"\"type\":\"x\"}"#), None);
    assert_eq!(tail_type(r#"{"type":"in\u0062ound"}"#), None);
    assert_eq!(tail_type(r#"{"type":"x" }"#), None);
}

#[test]
fn a_wrong_tail_guess_still_parses_as_the_first_type_says() {
    // The first `type` decides, not the one at the end.
    let f = frame(r#"{"requestId":"r","type":"outbound_result","type":"inbound"}"#);
    assert_eq!(f.kind(), "outbound_result");
    let f = frame(r#"{"type" : "going_idle_ack","event":{},"type":"inbound"}"#);
    assert_eq!(f.kind(), "going_idle_ack");
    assert_eq!(f.extra().get("event"), Some(&json!({})));
    // Sorted keys: `type` last, guessed from the tail.
    let f = frame(r#"{"bufferId":"b","event":{"type":"x","text":"hi"},"type":"inbound"}"#);
    assert_eq!(f.buffer_id(), Some("b"));
    let IncomingFrame::Inbound(f) = f else {
        panic!("wrong kind");
    };
    assert_eq!(f.raw_event.get(), r#"{"type":"x","text":"hi"}"#);
}

#[test]
fn an_escaped_type_key_still_names_the_frame() {
    assert_eq!(
        frame(r#"{"typ\u0065":"going_idle_ack"}"#).kind(),
        "going_idle_ack"
    );
    // The first `type` decides even when only a later one is spelled plainly.
    let f = frame(r#"{"typ\u0065":"going_idle_ack","type":"outbound_result","requestId":"r"}"#);
    assert_eq!(f.kind(), "going_idle_ack");
    assert_eq!(f.extra().get("requestId"), Some(&json!("r")));
}

#[test]
fn an_escaped_type_value_still_names_the_frame() {
    let f = frame(r#"{"requestId":"r","type":"outbound\u005fresult"}"#);
    assert_eq!(f.kind(), "outbound_result");
}

#[test]
fn the_type_scan_skips_long_strings_with_escapes_anywhere() {
    use super::lex::scan_type;
    for n in 0..20 {
        let pad = "é".repeat(n);
        let line = format!(
            r#"{{"k{pad}\"type\":{pad}":"v{pad}\\\"{pad}","type":"going_idle_ack","z":"{pad}"}}"#
        );
        assert_eq!(scan_type(&line), Some("going_idle_ack"), "{line}");
        let f = frame(&line);
        assert_eq!(f.kind(), "going_idle_ack", "{line}");
        assert_eq!(f.extra().get("z"), Some(&json!(pad)));
    }
}

#[test]
fn fields_held_before_an_unscannable_type_are_still_typed() {
    // The escaped key defeats the scan, so the fields are held as raw JSON first.
    let f = frame(
        r#"{"event":{"text":"hi", "source":{"chat_id":5,"x":1}},"bufferId":"b","typ\u0065":"inbound"}"#,
    );
    let IncomingFrame::Inbound(f) = f else {
        panic!("wrong kind");
    };
    assert_eq!(
        f.raw_event.get(),
        r#"{"text":"hi", "source":{"chat_id":5,"x":1}}"#
    );
    let event = f.event().expect("a well-typed event");
    assert_eq!(event.text.as_deref(), Some("hi"));
    let source = event.source.expect("source");
    assert_eq!(source.chat_id, Some(WireId::from(5)));
    assert_eq!(source.extra.get("x"), Some(&json!(1)));
    assert_eq!(f.buffer_id.as_deref(), Some("b"));

    let f = frame(
        r#"{"forward":{"platform":"p","botId":"b","method":"GET","path":"/","headers":[["a","b"]],"bodyB64":"aGk"},"typ\u0065":"passthrough_forward"}"#,
    );
    let IncomingFrame::PassthroughForward(f) = f else {
        panic!("wrong kind");
    };
    assert_eq!(f.forward.body_text(), Some("hi"));
    let IncomingFrame::Inbound(f) = frame(r#"{"event":{"text":1},"typ\u0065":"inbound"}"#) else {
        panic!("wrong kind");
    };
    assert!(f.event().is_err());
}
