//! What the scripted model reads from a Messages API request.

use serde::Deserialize;
use serde_json::Value;

/// The parts of `POST /v1/messages` the model looks at; everything else is ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct MessagesRequest {
    pub(crate) model: String,
    #[serde(default)]
    system: Value,
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

const CWD_MARKER: &str = "Primary working directory: ";
/// What the CLI puts in the model's mouth when a resumed conversation ended at a tool result
/// and a new prompt follows (measured with 2.1.331): not an answer the model gave.
const FILLER_ANSWER: &str = "No response requested.";

impl MessagesRequest {
    /// Which turn of the script answers this request: the number of answers already given.
    /// The CLI also sends `role: "system"` entries (environment notes) and, in a resumed
    /// conversation, filler answers of its own, which are not turns.
    pub(crate) fn turn(&self) -> usize {
        self.messages.iter().filter(|m| m.role == "assistant" && text_of(&m.content) != FILLER_ANSWER).count()
    }

    pub(crate) fn first_user_text(&self) -> String {
        self.user_messages().next().map(|m| text_of(&m.content)).unwrap_or_default()
    }

    pub(crate) fn last_user_text(&self) -> String {
        self.user_messages().last().map(|m| text_of(&m.content)).unwrap_or_default()
    }

    pub(crate) fn system_text(&self) -> String {
        text_of(&self.system)
    }

    /// The `role: "system"` entries of `messages[]`, one after the other.
    pub(crate) fn context_text(&self) -> String {
        self.messages.iter().filter(|m| m.role == "system").map(|m| text_of(&m.content)).collect::<Vec<_>>().join("\n")
    }

    /// The directory the CLI runs in, as it tells the model. 2.1.331 puts it in a
    /// `role: "system"` message for its default model and in a reminder at the start of the
    /// first user message for other models (`--model claude-sonnet-4-5`); older releases put
    /// it in the system prompt.
    pub(crate) fn cwd(&self) -> Option<String> {
        self.messages
            .iter()
            .filter(|m| m.role == "system")
            .map(|m| text_of(&m.content))
            .chain(self.user_messages().next().map(|m| text_of(&m.content)))
            .chain(std::iter::once(self.system_text()))
            .find_map(|text| {
                let (_, rest) = text.split_once(CWD_MARKER)?;
                Some(rest.lines().next().unwrap_or_default().trim().to_owned())
            })
    }

    fn user_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(|m| m.role == "user")
    }
}

/// The readable text of a content value: a string, or the text blocks and tool results of a
/// block list, one per line.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| match block["type"].as_str()? {
                "text" => Some(block["text"].as_str()?.to_owned()),
                "tool_result" => Some(text_of(&block["content"])),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Replaces `{cwd}` in every string inside `value`. Fails when a placeholder is present but the
/// request did not say where the CLI runs, rather than letting a tool write to a literal `{cwd}`.
pub(crate) fn substitute_cwd(value: &Value, cwd: Option<&str>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if text.contains("{cwd}") => {
            let cwd = cwd.ok_or_else(|| {
                format!("tool input {text:?} uses {{cwd}} but the request names no working directory ({CWD_MARKER:?})")
            })?;
            Value::String(text.replace("{cwd}", cwd))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| substitute_cwd(item, cwd)).collect::<Result<_, _>>()?)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), substitute_cwd(item, cwd)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(messages: Value) -> MessagesRequest {
        serde_json::from_value(json!({
            "model": "claude-test",
            "system": [{"type": "text", "text": "You are Claude."}],
            "messages": messages,
        }))
        .unwrap()
    }

    /// The shape 2.1.331 sends on its second request: the prompt with reminders, the
    /// environment as a system entry, the answer with its tool use, then the tool result.
    fn second_request() -> MessagesRequest {
        request(json!([
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>git status</system-reminder>"},
                {"type": "text", "text": "Stage: scaffold\nBuild it."}
            ]},
            {"role": "system", "content": [
                {"type": "text", "text": "# Environment\n - Primary working directory: /tmp/repo\n - Is a git repository: true"}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Writing."},
                {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "File created"},
                {"type": "text", "text": "note"}
            ]}
        ]))
    }

    #[test]
    fn turn_counts_assistant_messages_and_skips_system_entries() {
        assert_eq!(request(json!([{"role": "user", "content": "hi"}])).turn(), 0);
        assert_eq!(
            request(json!([
                {"role": "user", "content": "hi"},
                {"role": "system", "content": "env"},
                {"role": "system", "content": "more env"}
            ]))
            .turn(),
            0
        );
        assert_eq!(second_request().turn(), 1);
    }

    #[test]
    fn a_resumed_conversation_does_not_count_the_clis_filler_answer() {
        let mut resumed = second_request();
        resumed.messages.extend(
            serde_json::from_value::<Vec<Message>>(json!([
                {"role": "assistant", "content": [{"type": "text", "text": "No response requested."}]},
                {"role": "user", "content": [{"type": "text", "text": "Continue."}]}
            ]))
            .unwrap(),
        );
        assert_eq!(resumed.turn(), 1);
    }

    #[test]
    fn user_texts_join_text_blocks_and_tool_results() {
        let request = second_request();
        assert_eq!(
            request.first_user_text(),
            "<system-reminder>git status</system-reminder>\nStage: scaffold\nBuild it."
        );
        assert_eq!(request.last_user_text(), "File created\nnote");
        assert_eq!(request.system_text(), "You are Claude.");
        assert_eq!(
            request.context_text(),
            "# Environment\n - Primary working directory: /tmp/repo\n - Is a git repository: true"
        );
    }

    #[test]
    fn cwd_comes_from_a_system_entry_or_the_system_prompt() {
        assert_eq!(second_request().cwd().as_deref(), Some("/tmp/repo"));
        let old_style: MessagesRequest = serde_json::from_value(json!({
            "model": "m",
            "system": "Env:\nPrimary working directory: /work/x\nPlatform: linux",
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .unwrap();
        assert_eq!(old_style.cwd().as_deref(), Some("/work/x"));
        assert_eq!(request(json!([{"role": "user", "content": "hi"}])).cwd(), None);
        let other_model = request(json!([{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>\n# Environment\n - Primary working directory: /tmp/other\n</system-reminder>"},
            {"type": "text", "text": "Stage: x"}
        ]}]));
        assert_eq!(other_model.cwd().as_deref(), Some("/tmp/other"));
    }

    #[test]
    fn cwd_is_substituted_in_every_string() {
        let input = json!({
            "file_path": "{cwd}/pkg/__init__.py",
            "content": "root = '{cwd}'",
            "edits": [{"path": "{cwd}/a"}],
            "replace_all": false,
        });
        assert_eq!(
            substitute_cwd(&input, Some("/tmp/repo")).unwrap(),
            json!({
                "file_path": "/tmp/repo/pkg/__init__.py",
                "content": "root = '/tmp/repo'",
                "edits": [{"path": "/tmp/repo/a"}],
                "replace_all": false,
            })
        );
    }

    #[test]
    fn placeholder_without_known_cwd_is_an_error() {
        let err = substitute_cwd(&json!({"file_path": "{cwd}/a"}), None).unwrap_err();
        assert!(err.contains("no working directory"), "{err}");
        assert_eq!(substitute_cwd(&json!({"command": "ls"}), None).unwrap(), json!({"command": "ls"}));
    }
}
