//! Stage files: a project's `.claude-temporal.toml`, or any file given with `--stages`.
//!
//! ```toml
//! template = "api"                 # the built-in template to start from (default llm-wrapper)
//! skip = ["documentation"]         # stages of it to leave out
//! [prompts]                        # prompts to replace
//! design = "Stage: design\nDesign the API for {features} in openapi.yaml. {rules}"
//! [budgets]                        # what a stage's agent may spend, in USD
//! design = 1.50
//!
//! # ...or the whole list of stages, replacing the template's:
//! [[stages]]
//! name = "tests-first"
//! command = "/testing:generate-tests {features}"   # a slash command of the command library
//! skip_tests = false
//! [[stages]]
//! name = "implement"
//! prompt = "Stage: implement\nMake the new tests pass for {features}. {rules}"
//! requires_approval = true
//! critical_path = true
//! model = "claude-sonnet-4-5"
//! max_turns = 40
//! timeout_secs = 2400
//! max_output_tokens = 16000
//! budget_usd = 2.50                # what this stage's agent may spend; the workflow waits then
//! ```
//!
//! Every mistake is reported with the file and line: TOML syntax, unknown keys, a stage
//! defined twice, an empty list, an unknown placeholder, a name that `skip` or `[prompts]`
//! does not find.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ct_domain::SlashCommand;
use ct_domain::templates::{self, StageTemplate, Template};
use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::file::line_of;

/// The stage file a project may carry.
pub const PROJECT_FILE: &str = ".claude-temporal.toml";

/// The template used when neither a flag nor a file names one.
pub const DEFAULT_TEMPLATE: &str = templates::LLM_WRAPPER;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    name: Option<String>,
    description: Option<String>,
    template: Option<Spanned<String>>,
    skip: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    prompts: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Stage budgets, in USD, by stage name: for a template's stages, or any.
    #[serde(default)]
    budgets: BTreeMap<Spanned<String>, Spanned<f64>>,
    stages: Option<Spanned<Vec<StageEntry>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageEntry {
    name: Spanned<String>,
    prompt: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    #[serde(default)]
    requires_approval: bool,
    #[serde(default)]
    critical_path: bool,
    #[serde(default)]
    skip_tests: bool,
    model: Option<Spanned<String>>,
    max_turns: Option<Spanned<u32>>,
    timeout_secs: Option<Spanned<u64>>,
    max_output_tokens: Option<Spanned<u32>>,
    budget_usd: Option<Spanned<f64>>,
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageSelection<'a> {
    /// `--template NAME`.
    pub template: Option<&'a str>,
    /// `--stages FILE`; it must exist.
    pub stages_file: Option<&'a Path>,
    /// The project, whose [`PROJECT_FILE`] is read when no `--stages` is given.
    pub project: Option<&'a Path>,
}

/// The template a run will use, and where it came from.
#[derive(Debug, Clone)]
pub struct SelectedTemplate {
    pub template: Template,
    /// The stage file that defined or adjusted it.
    pub file: Option<PathBuf>,
    /// Where the stages come from, in words.
    pub origin: String,
}

pub fn select(selection: StageSelection<'_>) -> Result<SelectedTemplate, ConfigError> {
    let file = match (selection.stages_file, selection.project) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(project)) => Some(project.join(PROJECT_FILE)).filter(|path| path.is_file()),
        (None, None) => None,
    };
    let Some(path) = file else {
        let name = selection.template.unwrap_or(DEFAULT_TEMPLATE);
        let template = templates::find(name)?;
        return Ok(SelectedTemplate { origin: format!("built-in template `{}`", template.name), template, file: None });
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    let template = from_file(&text, selection.template).map_err(|(line, reason)| ConfigError::File {
        path: path.clone(),
        line,
        reason,
    })?;
    let origin = format!("{} ({})", path.display(), template.1);
    Ok(SelectedTemplate { template: template.0, file: Some(path), origin })
}

type Located<T> = Result<T, (usize, String)>;

/// The template a stage file describes, and a few words on how it was made.
fn from_file(text: &str, flag_template: Option<&str>) -> Located<(Template, String)> {
    let file: StageFile = toml::from_str(text)
        .map_err(|err| (err.span().map_or(1, |span| line_of(text, span.start)), err.message().trim().to_owned()))?;
    let at = |span: std::ops::Range<usize>| line_of(text, span.start);

    let (mut template, how) = match (&file.stages, flag_template) {
        (Some(stages), Some(flag)) => {
            return Err((
                at(stages.span()),
                format!(
                    "this file defines its own [[stages]], so --template {flag} cannot apply; \
                     drop --template, or pass another file with --stages"
                ),
            ));
        }
        (Some(stages), None) => {
            if stages.get_ref().is_empty() {
                return Err((at(stages.span()), "`stages` is empty; define at least one [[stages]] table".to_owned()));
            }
            let mut list = Vec::new();
            for entry in stages.get_ref() {
                let stage = stage_from_entry(text, entry)?;
                if list.iter().any(|s: &StageTemplate| s.name == stage.name) {
                    return Err((
                        at(entry.name.span()),
                        format!("stage `{}` is defined twice; stage names must be unique", stage.name),
                    ));
                }
                list.push(stage);
            }
            let template = Template {
                name: file.name.clone().unwrap_or_else(|| "custom".to_owned()),
                description: file.description.clone().unwrap_or_default(),
                stages: list,
            };
            if file.template.is_some() {
                let line = file.template.as_ref().map_or(1, |t| at(t.span()));
                return Err((line, "`template` and [[stages]] both define the stages; keep one of them".to_owned()));
            }
            (template, "stages defined in the file".to_owned())
        }
        (None, _) => {
            let (name, line) = match (flag_template, &file.template) {
                (Some(flag), _) => (flag.to_owned(), None),
                (None, Some(t)) => (t.get_ref().clone(), Some(at(t.span()))),
                (None, None) => (DEFAULT_TEMPLATE.to_owned(), None),
            };
            let template = templates::find(&name).map_err(|err| (line.unwrap_or(1), err.to_string()))?;
            (template, format!("built-in `{name}` adjusted by the file"))
        }
    };

    if let Some(skip) = &file.skip {
        for name in skip.get_ref() {
            let before = template.stages.len();
            template.stages.retain(|stage| stage.name != *name.get_ref());
            if template.stages.len() == before {
                return Err((at(name.span()), unknown_stage("skip", name.get_ref(), &template)));
            }
        }
        if template.stages.is_empty() {
            return Err((at(skip.span()), "`skip` leaves no stages to run".to_owned()));
        }
    }
    for (name, prompt) in &file.prompts {
        let line = at(name.span());
        let Some(stage) = template.stages.iter_mut().find(|s| s.name == *name.get_ref()) else {
            return Err((line, unknown_stage("[prompts]", name.get_ref(), &template)));
        };
        check_prompt_at(text, prompt, &stage.name)?;
        stage.prompt = prompt.get_ref().clone();
    }
    for (name, budget) in &file.budgets {
        let Some(stage) = template.stages.iter_mut().find(|s| s.name == *name.get_ref()) else {
            return Err((at(name.span()), unknown_stage("[budgets]", name.get_ref(), &template)));
        };
        let usd = ct_domain::budget::check_amount(*budget.get_ref())
            .map_err(|reason| (at(budget.span()), format!("[budgets] `{}`: {reason}", stage.name)))?;
        stage.budget_usd = Some(usd);
    }
    template.validate().map_err(|err| (1, err.to_string()))?;
    Ok((template, how))
}

fn unknown_stage(what: &str, name: &str, template: &Template) -> String {
    let names: Vec<&str> = template.stages.iter().map(|s| s.name.as_str()).collect();
    format!(
        "{what} names stage `{name}`, which template `{}` does not have; its stages: {}",
        template.name,
        names.join(", ")
    )
}

fn stage_from_entry(text: &str, entry: &StageEntry) -> Located<StageTemplate> {
    let at = |span: std::ops::Range<usize>| line_of(text, span.start);
    let name = entry.name.get_ref();
    let name_line = at(entry.name.span());
    templates::check_stage_name(name).map_err(|reason| (name_line, format!("stage name `{name}`: {reason}")))?;
    let prompt = match (&entry.prompt, &entry.command) {
        (Some(_), Some(_)) => {
            return Err((
                name_line,
                format!(
                    "stage `{name}` sets both `prompt` and `command`; a command stage's prompt is \
                     its command line, so keep one"
                ),
            ));
        }
        (None, None) => {
            return Err((name_line, format!("stage `{name}` needs a `prompt` or a `command`")));
        }
        (Some(prompt), None) => prompt,
        (None, Some(command)) => {
            if SlashCommand::parse(command.get_ref()).is_none() {
                return Err((
                    at(command.span()),
                    format!(
                        "stage `{name}`: command `{}` is not a slash command; write \
                         /category:name followed by its arguments, e.g. /testing:generate-tests src/",
                        command.get_ref()
                    ),
                ));
            }
            command
        }
    };
    if prompt.get_ref().trim().is_empty() {
        return Err((at(prompt.span()), format!("stage `{name}` has an empty prompt")));
    }
    check_prompt_at(text, prompt, name)?;
    let at_least_one = |value: &Option<Spanned<u32>>, what: &str| -> Located<Option<u32>> {
        match value {
            Some(v) if *v.get_ref() == 0 => Err((
                at(v.span()),
                format!("stage `{name}`: {what} must be at least 1 (leave it out to use the workflow's)"),
            )),
            other => Ok(other.as_ref().map(|v| *v.get_ref())),
        }
    };
    let max_turns = at_least_one(&entry.max_turns, "max_turns")?;
    let max_output_tokens = at_least_one(&entry.max_output_tokens, "max_output_tokens")?;
    if let Some(timeout) = entry.timeout_secs.as_ref().filter(|t| *t.get_ref() == 0) {
        return Err((
            at(timeout.span()),
            format!("stage `{name}`: timeout_secs must be at least 1 (leave it out to use the workflow's)"),
        ));
    }
    if let Some(budget) = &entry.budget_usd
        && let Err(reason) = ct_domain::budget::check_amount(*budget.get_ref())
    {
        return Err((at(budget.span()), format!("stage `{name}`: budget_usd: {reason}")));
    }
    if let Some(model) = entry.model.as_ref().filter(|m| m.get_ref().trim().is_empty()) {
        return Err((at(model.span()), format!("stage `{name}`: model is empty (leave it out to use the workflow's)")));
    }
    Ok(StageTemplate {
        name: name.clone(),
        prompt: prompt.get_ref().clone(),
        requires_approval: entry.requires_approval,
        critical_path: entry.critical_path,
        skip_tests: entry.skip_tests,
        model: entry.model.as_ref().map(|m| m.get_ref().clone()),
        max_turns,
        timeout_secs: entry.timeout_secs.as_ref().map(|t| *t.get_ref()),
        max_output_tokens,
        budget_usd: entry.budget_usd.as_ref().map(|b| *b.get_ref()),
    })
}

/// Checks a prompt's placeholders and names the line of the file a problem is on.
fn check_prompt_at(text: &str, prompt: &Spanned<String>, stage: &str) -> Located<()> {
    templates::check_prompt(prompt.get_ref()).map_err(|problem| {
        let raw = &text[prompt.span()];
        // TOML drops a newline right after the opening `"""` or `'''`.
        let skipped_newline = ["\"\"\"\n", "'''\n", "\"\"\"\r\n", "'''\r\n"].iter().any(|open| raw.starts_with(open));
        let line = line_of(text, prompt.span().start)
            + usize::from(skipped_newline)
            + problem.line_in_prompt(prompt.get_ref())
            - 1;
        (line, format!("stage `{stage}`: {}", problem.reason))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Located<(Template, String)> {
        from_file(text, None)
    }

    fn names(template: &Template) -> Vec<&str> {
        template.stages.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn a_file_can_skip_stages_and_replace_prompts_of_a_built_in() {
        let (template, _) = load(
            "template = \"api\"\nskip = [\"documentation\"]\n[prompts]\n\
             design = \"Stage: design\\nSketch {features} in openapi.yaml\"\n",
        )
        .unwrap();
        assert_eq!(template.name, "api");
        assert_eq!(names(&template), ["design", "endpoints", "validation", "testing"]);
        assert_eq!(template.stages[0].prompt, "Stage: design\nSketch {features} in openapi.yaml");
        assert!(template.stages[0].requires_approval, "only the prompt is replaced");
    }

    #[test]
    fn a_file_can_give_a_built_in_s_stages_budgets() {
        let (template, _) = load("template = \"api\"\n[budgets]\ndesign = 0.5\nendpoints = 3\n").unwrap();
        let budgets: Vec<Option<f64>> = template.stages.iter().map(|s| s.budget_usd).collect();
        assert_eq!(&budgets[..3], [Some(0.5), Some(3.0), None]);
        let (line, reason) = load("template = \"api\"\n[budgets]\ndesgn = 0.5\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(reason.contains("[budgets] names stage `desgn`"), "{reason}");
        let (line, reason) = load("template = \"api\"\n\n[budgets]\ndesign = 0\n").unwrap_err();
        assert_eq!(line, 4);
        assert!(reason.contains("positive number"), "{reason}");
    }

    #[test]
    fn a_file_can_define_its_own_stages_with_their_settings() {
        let (template, how) = load(
            "name = \"tdd\"\n\
             [[stages]]\nname = \"tests-first\"\ncommand = \"/testing:generate-tests {features}\"\nskip_tests = true\n\
             [[stages]]\nname = \"implement\"\nprompt = \"\"\"\nStage: implement\nMake them pass. {rules}\"\"\"\n\
             requires_approval = true\ncritical_path = true\nmodel = \"claude-sonnet-4-5\"\nmax_turns = 40\n\
             timeout_secs = 2400\nmax_output_tokens = 16000\nbudget_usd = 2\n",
        )
        .unwrap();
        assert_eq!(how, "stages defined in the file");
        assert_eq!(template.name, "tdd");
        let first = &template.stages[0];
        assert_eq!(first.command().unwrap().name, "testing:generate-tests");
        assert!(first.skip_tests);
        let second = &template.stages[1];
        assert_eq!(second.prompt, "Stage: implement\nMake them pass. {rules}");
        assert!(second.requires_approval && second.critical_path);
        assert_eq!(second.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(
            (second.max_turns, second.timeout_secs, second.max_output_tokens),
            (Some(40), Some(2400), Some(16000))
        );
        assert_eq!(second.budget_usd, Some(2.0));
    }

    #[test]
    fn a_stage_budget_must_be_positive_dollars() {
        let (line, reason) = load("[[stages]]\nname = \"a\"\nprompt = \"x\"\nbudget_usd = -1.5\n").unwrap_err();
        assert_eq!(line, 4);
        assert!(reason.contains("stage `a`: budget_usd: a budget must be a positive number"), "{reason}");
    }

    #[test]
    fn an_unknown_placeholder_names_the_file_line_it_is_on() {
        let text = "[[stages]]\nname = \"a\"\nprompt = \"\"\"\nStage: a\nfirst line\nuse {feture} here\"\"\"\n";
        let (line, reason) = load(text).unwrap_err();
        assert_eq!(line, 6);
        assert!(reason.starts_with("stage `a`: unknown placeholder `{feture}`; known: {project_path}"), "{reason}");

        let (line, _) = load("[prompts]\nscaffold = 'x {nope}'\n").unwrap_err();
        assert_eq!(line, 2);
    }

    #[test]
    fn a_stage_defined_twice_is_refused_at_the_second_definition() {
        let text = "[[stages]]\nname = \"a\"\nprompt = \"x\"\n\n[[stages]]\nname = \"a\"\nprompt = \"y\"\n";
        assert_eq!(load(text).unwrap_err(), (6, "stage `a` is defined twice; stage names must be unique".to_owned()));
    }

    #[test]
    fn empty_lists_are_refused() {
        assert_eq!(
            load("name = \"x\"\nstages = []\n").unwrap_err(),
            (2, "`stages` is empty; define at least one [[stages]] table".to_owned())
        );
        let all = "skip = [\"scaffold\", \"core-implementation\", \"streaming\", \"error-handling\", \"testing\", \"documentation\"]";
        assert_eq!(load(all).unwrap_err(), (1, "`skip` leaves no stages to run".to_owned()));
    }

    #[test]
    fn unknown_keys_bad_toml_and_unknown_names_are_located() {
        let (line, reason) = load("[[stages]]\nname = \"a\"\nprompt = \"x\"\nrequires_aproval = true\n").unwrap_err();
        assert_eq!(line, 4);
        assert!(reason.contains("unknown field `requires_aproval`"), "{reason}");

        let (line, _) = load("skip = [\"scaffold\"\n").unwrap_err();
        assert_eq!(line, 1);

        let (line, reason) = load("\nskip = [\"docs\"]\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(reason.contains("does not have; its stages: scaffold, core-implementation"), "{reason}");

        let (line, reason) = load("template = \"graphql\"\n").unwrap_err();
        assert_eq!(line, 1);
        assert!(reason.contains("available: llm-wrapper, api, frontend"), "{reason}");
    }

    #[test]
    fn commands_and_limits_are_checked() {
        let (line, reason) = load("[[stages]]\nname = \"a\"\ncommand = \"testing:generate-tests\"\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(reason.contains("is not a slash command"), "{reason}");
        let (line, reason) = load("[[stages]]\nname = \"a\"\nprompt = \"x\"\nmax_turns = 0\n").unwrap_err();
        assert_eq!(line, 4);
        assert!(reason.contains("max_turns must be at least 1"), "{reason}");
        let (_, reason) = load("[[stages]]\nname = \"a\"\nprompt = \"x\"\ncommand = \"/a:b\"\n").unwrap_err();
        assert!(reason.contains("sets both"), "{reason}");
        let (line, reason) = load("[[stages]]\nname = \"two words\"\nprompt = \"x\"\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(reason.contains("use only letters"), "{reason}");
    }

    #[test]
    fn the_template_flag_cannot_override_a_file_s_own_stages() {
        let (line, reason) = from_file("[[stages]]\nname = \"a\"\nprompt = \"x\"\n", Some("api")).unwrap_err();
        assert_eq!(line, 1);
        assert!(reason.contains("--template api cannot apply"), "{reason}");
        let (template, _) = from_file("template = \"frontend\"\nskip = [\"documentation\"]\n", Some("api")).unwrap();
        assert_eq!(template.name, "api", "the flag beats the file's `template`");
        assert_eq!(template.stages.len(), 4);
    }

    #[test]
    fn without_a_file_the_flag_or_the_default_template_is_used() {
        let scratch = tempfile::tempdir().unwrap();
        let selected =
            select(StageSelection { template: None, stages_file: None, project: Some(scratch.path()) }).unwrap();
        assert_eq!(selected.template.name, "llm-wrapper");
        assert_eq!(selected.origin, "built-in template `llm-wrapper`");

        std::fs::write(scratch.path().join(PROJECT_FILE), "skip = [\"documentation\"]\n").unwrap();
        let selected =
            select(StageSelection { template: Some("frontend"), stages_file: None, project: Some(scratch.path()) })
                .unwrap();
        assert_eq!(selected.template.name, "frontend");
        assert_eq!(selected.template.stages.len(), 4);
        assert!(selected.origin.ends_with("(built-in `frontend` adjusted by the file)"));

        let missing = select(StageSelection {
            stages_file: Some(&scratch.path().join("absent.toml")),
            ..StageSelection::default()
        })
        .unwrap_err();
        assert!(missing.to_string().contains("absent.toml"), "{missing}");
    }
}
