//! Slash commands in prompts: a stage whose prompt starts with `/category:name` runs that
//! command of the command library, which the agent CLI expands from
//! `<commands dir>/category/name.md`.

use std::path::PathBuf;

/// A slash command at the start of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand<'a> {
    /// Without the slash: `testing:generate-tests`.
    pub name: &'a str,
    /// Everything after the name, trimmed; the command file sees it as `$ARGUMENTS`.
    pub args: &'a str,
}

impl<'a> SlashCommand<'a> {
    /// The command a prompt starts with, if it starts with one. A prompt that merely begins
    /// with `/` (a path, say) is not a command unless its first word has a command's shape.
    pub fn parse(prompt: &'a str) -> Option<SlashCommand<'a>> {
        let rest = prompt.trim_start().strip_prefix('/')?;
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let name = &rest[..end];
        let valid = !name.is_empty()
            && name.split(':').all(|segment| {
                !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        valid.then(|| SlashCommand { name, args: rest[end..].trim() })
    }

    /// Where the command's file lives under a commands directory: each `:` is a
    /// subdirectory, as the Claude Code CLI names them.
    pub fn relative_path(&self) -> PathBuf {
        let mut path: PathBuf = self.name.split(':').collect();
        path.set_extension("md");
        path
    }
}

impl std::fmt::Display for SlashCommand<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_command_maps_to_a_file_in_its_category() {
        let command = SlashCommand::parse("/testing:generate-tests src/parser.py  ").unwrap();
        assert_eq!(command.name, "testing:generate-tests");
        assert_eq!(command.args, "src/parser.py");
        assert_eq!(command.relative_path(), PathBuf::from("testing/generate-tests.md"));
        assert_eq!(command.to_string(), "/testing:generate-tests");
    }

    #[test]
    fn paths_and_plain_text_are_not_commands() {
        assert_eq!(SlashCommand::parse("/usr/bin/env is broken"), None);
        assert_eq!(SlashCommand::parse("Stage: x\n/testing:a"), None);
        assert_eq!(SlashCommand::parse("/"), None);
        assert_eq!(SlashCommand::parse("/a::b"), None);
        assert_eq!(SlashCommand::parse("/review").unwrap().args, "");
    }
}
