//! What people watching a run are shown of it: text cut to size, and tool calls summed up in
//! a line that never echoes what could be a secret.

use std::path::Path;

use serde_json::Value;

/// Longest Bash command shown in a tool-use summary, in characters.
const COMMAND_LIMIT: usize = 120;

/// Cuts `text` to at most `limit` characters, marking the cut.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A short description of a tool call for people watching the run. Only fields known to be
/// harmless are shown; an unknown tool shows nothing rather than risk echoing a secret.
pub(crate) fn summarize_tool_input(tool: &str, input: &Value, project: &Path) -> String {
    let field = |name: &str| input.get(name).and_then(Value::as_str).unwrap_or_default();
    let path = |name: &str| {
        let value = field(name);
        Path::new(value).strip_prefix(project).map_or_else(|_| value.to_owned(), |p| p.display().to_string())
    };
    match tool {
        "Write" | "Edit" | "MultiEdit" | "Read" => path("file_path"),
        "NotebookEdit" => path("notebook_path"),
        "Bash" => {
            let command = field("command");
            truncate(command.lines().next().unwrap_or_default(), COMMAND_LIMIT)
        }
        "Glob" | "Grep" => field("pattern").to_owned(),
        "Task" | "Agent" => field("description").to_owned(),
        "WebFetch" => field("url").to_owned(),
        "WebSearch" => field("query").to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn file_tools_show_the_path_relative_to_the_project() {
        let project = Path::new("/work/proj");
        let input = json!({"file_path": "/work/proj/src/main.rs", "content": "secret"});
        assert_eq!(summarize_tool_input("Write", &input, project), "src/main.rs");
        let input = json!({"file_path": "/etc/hosts"});
        assert_eq!(summarize_tool_input("Read", &input, project), "/etc/hosts");
    }

    #[test]
    fn bash_shows_the_first_line_cut_to_120_chars() {
        let long = "x".repeat(200);
        let input = json!({"command": format!("{long}\nsecond line")});
        let summary = summarize_tool_input("Bash", &input, Path::new("/p"));
        assert_eq!(summary.chars().count(), 121);
        assert!(summary.ends_with('…'));
        let input = json!({"command": "cargo test"});
        assert_eq!(summarize_tool_input("Bash", &input, Path::new("/p")), "cargo test");
    }

    #[test]
    fn unknown_tools_show_nothing() {
        let input = json!({"token": "sk-secret"});
        assert_eq!(summarize_tool_input("mcp__vault__read", &input, Path::new("/p")), "");
    }

    #[test]
    fn truncation_respects_multibyte_characters() {
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("ab", 2), "ab");
    }
}
