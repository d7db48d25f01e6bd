//! The command library and the prompt-submit hook, installed into each run's private HOME.
//!
//! The Claude Code CLI reads user-level slash commands from `$HOME/.claude/commands` and hooks
//! from `$HOME/.claude/settings.json`. Every run has a HOME of its own, so copying the library
//! there makes `/testing:generate-tests` and friends available without writing anything into
//! the user's repository, and without one run's agent being able to alter another's commands.

use std::io;
use std::path::Path;

use ct_domain::SlashCommand;

use crate::error::Error;

/// How long the CLI lets the hook run. The hook only reads local files.
const HOOK_TIMEOUT_SECS: u32 = 10;

/// Checks the library and hook paths once, at start-up, so a typo fails the executor rather
/// than every run.
pub(crate) fn check(commands_dir: Option<&Path>, hook_bin: Option<&Path>) -> Result<(), Error> {
    if let Some(dir) = commands_dir
        && !dir.is_dir()
    {
        return Err(Error::Library(format!(
            "command library {} is not a directory (set --commands-dir / CT_COMMANDS_DIR to the \
             repository's .claude/commands, or leave it empty for none)",
            dir.display()
        )));
    }
    if let Some(bin) = hook_bin
        && (!bin.is_absolute() || !bin.is_file())
    {
        return Err(Error::Library(format!(
            "hook binary {} is not an existing absolute path (set --hook-bin / CT_HOOK_BIN to the \
             claude-temporal binary, or leave it empty for no hook)",
            bin.display()
        )));
    }
    Ok(())
}

/// Refuses a prompt that runs a namespaced slash command no command file defines: the CLI
/// would answer such a prompt with an empty success (exit 0, no turns).
pub(crate) fn check_command(prompt: &str, commands_dir: Option<&Path>, project: &Path) -> Result<(), Error> {
    let Some(command) = SlashCommand::parse(prompt) else {
        return Ok(());
    };
    // Commands without a category may be the CLI's own (`/review`, `/init`); only files can
    // define namespaced ones.
    if !command.name.contains(':') {
        return Ok(());
    }
    let project_dir = project.join(".claude").join("commands");
    let dirs: Vec<&Path> = commands_dir.into_iter().chain([project_dir.as_path()]).collect();
    if dirs.iter().any(|dir| dir.join(command.relative_path()).is_file()) {
        return Ok(());
    }
    let looked: Vec<String> = dirs.iter().map(|dir| dir.display().to_string()).collect();
    let available = commands_dir.map(available_commands).unwrap_or_default();
    Err(Error::UnknownCommand {
        command: command.to_string(),
        file: command.relative_path().display().to_string(),
        looked: looked.join(" and "),
        available: if available.is_empty() {
            "none (the executor has no command library: --commands-dir)".to_owned()
        } else {
            available.join(", ")
        },
    })
}

/// Copies the library into `<home>/.claude/commands` and registers the hook in
/// `<home>/.claude/settings.json`.
pub(crate) fn install(home: &Path, commands_dir: Option<&Path>, hook_bin: Option<&Path>) -> io::Result<()> {
    let claude_dir = home.join(".claude");
    if let Some(dir) = commands_dir {
        copy_markdown(dir, &claude_dir.join("commands"))?;
    }
    if let Some(bin) = hook_bin {
        // By the path it has on this machine: inside a run's namespaces, only that is mounted.
        let bin = bin.canonicalize().unwrap_or_else(|_| bin.to_path_buf());
        std::fs::write(claude_dir.join("settings.json"), settings_json(&bin))?;
    }
    Ok(())
}

fn settings_json(hook_bin: &Path) -> String {
    let command = format!("{} hook prompt-submit", shell_quote(&hook_bin.display().to_string()));
    let settings = serde_json::json!({
        "hooks": {
            "UserPromptSubmit": [
                { "hooks": [ { "type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECS } ] }
            ]
        }
    });
    settings.to_string()
}

/// The CLI runs hook commands through a shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Copies the `.md` files of `from` (recursively) to `to`.
fn copy_markdown(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_markdown(&path, &target)?;
        } else if path.extension().is_some_and(|ext| ext == "md") {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// The library's commands, as `/category:name`, sorted.
fn available_commands(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut deeper = prefix.to_vec();
                deeper.push(name);
                walk(&path, &deeper, out);
            } else if let Some(stem) = name.strip_suffix(".md") {
                let mut parts = prefix.to_vec();
                parts.push(stem.to_owned());
                out.push(format!("/{}", parts.join(":")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &[], &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("testing")).unwrap();
        std::fs::write(dir.path().join("testing/generate-tests.md"), "Write tests for $ARGUMENTS").unwrap();
        std::fs::write(dir.path().join("testing/notes.txt"), "not a command").unwrap();
        dir
    }

    #[test]
    fn the_library_and_the_hook_land_in_the_run_home_only() {
        let library = library();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".claude")).unwrap();
        install(home.path(), Some(library.path()), Some(Path::new("/opt/ct/it's/claude-temporal"))).unwrap();
        let copied = home.path().join(".claude/commands/testing/generate-tests.md");
        assert_eq!(std::fs::read_to_string(copied).unwrap(), "Write tests for $ARGUMENTS");
        assert!(!home.path().join(".claude/commands/testing/notes.txt").exists());
        let settings: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(home.path().join(".claude/settings.json")).unwrap()).unwrap();
        assert_eq!(
            settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],
            r"'/opt/ct/it'\''s/claude-temporal' hook prompt-submit"
        );
    }

    #[test]
    fn an_unknown_namespaced_command_is_refused_naming_where_it_looked() {
        let library = library();
        let project = tempfile::tempdir().unwrap();
        check_command("/testing:generate-tests src/", Some(library.path()), project.path()).unwrap();
        check_command("Stage: x\nwrite tests", Some(library.path()), project.path()).unwrap();
        check_command("/review", Some(library.path()), project.path()).unwrap();

        let err =
            check_command("/testing:generate-test src/", Some(library.path()), project.path()).unwrap_err().to_string();
        assert!(err.contains("`/testing:generate-test`"), "{err}");
        assert!(err.contains("testing/generate-test.md"), "{err}");
        assert!(err.contains(&library.path().display().to_string()), "{err}");
        assert!(err.contains("available: /testing:generate-tests"), "{err}");

        // The project's own commands count too.
        let own = project.path().join(".claude/commands/team");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(own.join("lint.md"), "Lint $ARGUMENTS").unwrap();
        check_command("/team:lint", None, project.path()).unwrap();
    }

    #[test]
    fn bad_library_or_hook_paths_fail_at_start_up() {
        assert!(check(Some(Path::new("/nonexistent/commands")), None).is_err());
        assert!(check(None, Some(Path::new("relative/claude-temporal"))).is_err());
        assert!(check(None, None).is_ok());
    }
}
