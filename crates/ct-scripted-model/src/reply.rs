//! The answers in the Anthropic wire format: SSE events for a message, JSON bodies for errors.

use serde_json::{Value, json};

use crate::scenario::Usage;

pub(crate) enum Block {
    Text(String),
    ToolUse { id: String, name: String, input: Value },
}

/// The events of one streamed message, named as in the `event:` line, in the order the API
/// sends them. Input tokens arrive in `message_start`, the final output count in
/// `message_delta`, as the real API does.
pub(crate) fn message_events(
    message_id: &str,
    model: &str,
    blocks: &[Block],
    usage: Usage,
) -> Vec<(&'static str, Value)> {
    let mut events = vec![(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input_tokens,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens,
                "output_tokens": 1,
            },
        }}),
    )];
    for (index, block) in blocks.iter().enumerate() {
        let (start, delta) = match block {
            Block::Text(text) => (json!({"type": "text", "text": ""}), json!({"type": "text_delta", "text": text})),
            Block::ToolUse { id, name, input } => (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input.to_string()}),
            ),
        };
        events.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        events.push(("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta})));
        events.push(("content_block_stop", json!({"type": "content_block_stop", "index": index})));
    }
    let stop_reason = if blocks.iter().any(|b| matches!(b, Block::ToolUse { .. })) { "tool_use" } else { "end_turn" };
    events.push((
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": usage.output_tokens}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    events
}

/// Anthropic's error body, with the error type the API uses for `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage() -> Usage {
        Usage { input_tokens: 1200, output_tokens: 300, cache_read_input_tokens: 7, cache_creation_input_tokens: 9 }
    }

    #[test]
    fn tool_use_message_streams_blocks_in_order_and_stops_for_the_tool() {
        let input = json!({"file_path": "/tmp/a.py", "content": "x = 1\n"});
        let blocks = [
            Block::Text("Creating.".into()),
            Block::ToolUse { id: "toolu_1".into(), name: "Write".into(), input: input.clone() },
        ];
        let events = message_events("msg_1", "claude-x", &blocks, usage());
        let names: Vec<_> = events.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        let start = &events[0].1["message"];
        assert_eq!(start["model"], "claude-x");
        assert_eq!(start["usage"]["input_tokens"], 1200);
        assert_eq!(start["usage"]["cache_read_input_tokens"], 7);
        assert_eq!(start["usage"]["cache_creation_input_tokens"], 9);
        assert_eq!(events[4].1["content_block"]["id"], "toolu_1");
        assert_eq!(events[4].1["index"], 1);
        let partial = events[5].1["delta"]["partial_json"].as_str().unwrap();
        assert_eq!(serde_json::from_str::<Value>(partial).unwrap(), input);
        assert_eq!(events[7].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[7].1["usage"]["output_tokens"], 300);
    }

    #[test]
    fn text_only_message_ends_the_turn() {
        let events = message_events("msg_2", "m", &[Block::Text("Done.".into())], usage());
        assert_eq!(events[2].1["delta"]["text"], "Done.");
        assert_eq!(events[4].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn error_types_follow_the_status() {
        assert_eq!(error_body(401, "bad key")["error"]["type"], "authentication_error");
        assert_eq!(error_body(529, "busy")["error"]["type"], "overloaded_error");
        assert_eq!(error_body(429, "slow down")["error"]["type"], "rate_limit_error");
        assert_eq!(error_body(500, "oops")["error"]["type"], "api_error");
        assert_eq!(error_body(500, "oops")["error"]["message"], "oops");
    }
}
