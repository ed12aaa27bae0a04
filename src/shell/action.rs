//! Checking an outbound action before it is queued.

use serde_json::{Map, Value};

use crate::RequestError;

/// Checks an action before it is queued: it must serialise to a JSON
/// object whose `op` is a string.
pub(crate) fn action_object<A: serde::Serialize + ?Sized>(
    action: &A,
) -> Result<Map<String, Value>, RequestError> {
    let invalid = |problem: String| Err(RequestError::InvalidAction(problem));
    let map = match serde_json::to_value(action) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return invalid(format!(
                "the action must be a JSON object, not {}",
                kind(&other)
            ))
        }
        Err(e) => return invalid(format!("the action does not serialise to JSON ({e})")),
    };
    match map.get("op") {
        Some(Value::String(_)) => Ok(map),
        None => invalid("the action has no \"op\"".into()),
        Some(other) => invalid(format!(
            "the action's \"op\" must be a string, not {}",
            kind(other)
        )),
    }
}

/// The JSON kind of a value, with its article, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_action_that_is_not_an_object_is_refused_naming_its_kind() {
        let error = action_object(&json!(["send"])).unwrap_err();
        assert_eq!(
            error,
            RequestError::InvalidAction("the action must be a JSON object, not an array".into())
        );
        assert_eq!(
            error.to_string(),
            "relay action invalid: the action must be a JSON object, not an array"
        );
        assert!(!error.is_ambiguous());
    }

    #[test]
    fn an_action_without_a_string_op_is_refused() {
        assert_eq!(
            action_object(&json!({"text": "hi"})),
            Err(RequestError::InvalidAction(
                "the action has no \"op\"".into()
            ))
        );
        assert_eq!(
            action_object(&json!({"op": 3})),
            Err(RequestError::InvalidAction(
                "the action's \"op\" must be a string, not a number".into()
            ))
        );
    }

    #[test]
    fn an_action_that_cannot_serialise_is_refused() {
        let keys_not_strings: std::collections::HashMap<Vec<u8>, u8> =
            [(vec![1], 1)].into_iter().collect();
        let error = action_object(&keys_not_strings).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("relay action invalid: the action does not serialise to JSON"),
            "{error}"
        );
    }

    #[test]
    fn a_struct_with_an_op_is_a_valid_action() {
        #[derive(serde::Serialize)]
        struct Send<'a> {
            op: &'a str,
            text: &'a str,
        }
        let map = action_object(&Send {
            op: "send",
            text: "hi",
        })
        .unwrap();
        assert_eq!(Value::Object(map), json!({"op": "send", "text": "hi"}));
    }
}
