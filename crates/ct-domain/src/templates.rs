//! Stage templates: what each stage asks of the agent and how it is gated, the built-in
//! templates, their validation, and the rendering of prompts for one run.
//!
//! Templates can also come from TOML files; `ct-config` reads those and hands them here as
//! [`Template`]s, so every template is checked and rendered by the same code.

mod builtin;
mod placeholder;

use serde::Serialize;

pub use builtin::{API, BUILT_IN_NAMES, FRONTEND, LLM_WRAPPER, built_in, find};
pub use placeholder::{PLACEHOLDERS, PlaceholderProblem};

use crate::{SlashCommand, StagePlan};

/// A stage before its prompt is rendered for a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTemplate {
    pub name: String,
    /// What the agent is asked, with placeholders. A prompt that starts with a slash command
    /// (`/testing:generate-tests {features}`) runs that command of the command library.
    pub prompt: String,
    /// The workflow stops after this stage until someone approves or rejects it.
    pub requires_approval: bool,
    /// Snapshotted before it runs, rolled back when it fails.
    pub critical_path: bool,
    /// No test run after the agent (stages that only write documents).
    pub skip_tests: bool,
    /// Agent settings of this stage; unset ones come from the workflow's settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// What this stage's agent may spend, in USD; the workflow waits when it is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}

impl StageTemplate {
    /// A stage that runs its tests, needs no approval and is not critical.
    pub fn new(name: impl Into<String>, prompt: impl Into<String>) -> StageTemplate {
        StageTemplate {
            name: name.into(),
            prompt: prompt.into(),
            requires_approval: false,
            critical_path: false,
            skip_tests: false,
            model: None,
            max_turns: None,
            timeout_secs: None,
            max_output_tokens: None,
            budget_usd: None,
        }
    }

    /// The slash command this stage runs, if its prompt is one.
    pub fn command(&self) -> Option<SlashCommand<'_>> {
        SlashCommand::parse(&self.prompt)
    }

    fn check(&self) -> Result<(), TemplateError> {
        check_stage_name(&self.name)
            .map_err(|reason| TemplateError::BadStageName { stage: self.name.clone(), reason })?;
        if self.prompt.trim().is_empty() {
            return Err(TemplateError::EmptyPrompt { stage: self.name.clone() });
        }
        check_prompt(&self.prompt).map_err(|problem| TemplateError::BadPrompt {
            stage: self.name.clone(),
            line: problem.line_in_prompt(&self.prompt),
            reason: problem.reason,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub stages: Vec<StageTemplate>,
}

impl Template {
    pub fn stage(&self, name: &str) -> Option<&StageTemplate> {
        self.stages.iter().find(|stage| stage.name == name)
    }

    /// Everything that can be wrong with a template before it meets a project: no stages,
    /// a stage name used twice or unusable, an empty prompt, a bad placeholder.
    pub fn validate(&self) -> Result<(), TemplateError> {
        if self.stages.is_empty() {
            return Err(TemplateError::NoStages { template: self.name.clone() });
        }
        for (index, stage) in self.stages.iter().enumerate() {
            stage.check()?;
            if self.stages[..index].iter().any(|earlier| earlier.name == stage.name) {
                return Err(TemplateError::DuplicateStage { stage: stage.name.clone() });
            }
        }
        Ok(())
    }

    /// Checks the template and renders every stage's prompt for one run.
    pub fn render(&self, ctx: &PromptContext<'_>) -> Result<Vec<StagePlan>, TemplateError> {
        self.validate()?;
        self.stages
            .iter()
            .map(|stage| {
                Ok(StagePlan {
                    name: stage.name.clone(),
                    prompt: render_prompt(&stage.name, &stage.prompt, ctx)?,
                    requires_approval: stage.requires_approval,
                    run_tests: !stage.skip_tests,
                    critical_path: stage.critical_path,
                    model: stage.model.clone(),
                    max_turns: stage.max_turns,
                    timeout_secs: stage.timeout_secs,
                    max_output_tokens: stage.max_output_tokens,
                    budget_usd: stage.budget_usd,
                    estimate: None,
                })
            })
            .collect()
    }
}

/// What a prompt's placeholders are filled with.
#[derive(Debug, Clone, Default)]
pub struct PromptContext<'a> {
    pub project_path: &'a str,
    pub features: &'a [String],
    /// The one feature of a per-feature run; `{feature}` falls back to all features.
    pub feature: Option<&'a str>,
    /// The issue a fix run works on.
    pub issue: Option<&'a str>,
    /// What failed in the attempts before this one.
    pub previous_failures: Option<&'a str>,
}

impl<'a> PromptContext<'a> {
    pub fn new(project_path: &'a str, features: &'a [String]) -> PromptContext<'a> {
        PromptContext { project_path, features, ..PromptContext::default() }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("unknown template `{name}`; available: {available}")]
    UnknownTemplate { name: String, available: String },
    #[error("template `{template}` has no stages; define at least one")]
    NoStages { template: String },
    #[error("stage `{stage}` is defined twice; stage names must be unique")]
    DuplicateStage { stage: String },
    #[error("stage name `{stage}`: {reason}")]
    BadStageName { stage: String, reason: String },
    #[error("stage `{stage}` has an empty prompt; say what the agent should do")]
    EmptyPrompt { stage: String },
    #[error("stage `{stage}`, line {line} of its prompt: {reason}")]
    BadPrompt { stage: String, line: usize, reason: String },
}

/// Stage names end up in workflow run ids, CLI arguments and file names.
pub fn check_stage_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a stage needs a name".to_owned());
    }
    if name.len() > 64 {
        return Err("longer than 64 characters".to_owned());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("use only letters, digits, `-`, `_` and `.`".to_owned());
    }
    Ok(())
}

/// Checks a prompt's placeholders without rendering it.
pub fn check_prompt(prompt: &str) -> Result<(), PlaceholderProblem> {
    placeholder::parse(prompt).map(drop)
}

const COMMON_RULES: &str = "Work only inside {project_path}. Keep the project's tests passing; \
add tests for what you build. Do not commit: the workflow snapshots and reviews your changes.";

/// Renders one prompt for a run. Rendering is pure, so workflows may render prompts
/// themselves (with the failures of an earlier attempt, say) without breaking replay.
pub fn render_prompt(stage: &str, prompt: &str, ctx: &PromptContext<'_>) -> Result<String, TemplateError> {
    let pieces = placeholder::parse(prompt).map_err(|problem| TemplateError::BadPrompt {
        stage: stage.to_owned(),
        line: problem.line_in_prompt(prompt),
        reason: problem.reason,
    })?;
    let features = if ctx.features.is_empty() {
        "the project's existing goals (no features were named)".to_owned()
    } else {
        ctx.features.join("; ")
    };
    let mut out = String::with_capacity(prompt.len() + 256);
    for piece in pieces {
        match piece {
            placeholder::Piece::Text(text) => out.push_str(text),
            placeholder::Piece::Brace(brace) => out.push(brace),
            placeholder::Piece::Placeholder(name) => match name {
                "project_path" => out.push_str(ctx.project_path),
                "features" => out.push_str(&features),
                "feature" => out.push_str(ctx.feature.unwrap_or(&features)),
                "issue" => out.push_str(ctx.issue.unwrap_or("no specific issue was given")),
                "previous_failures" => out.push_str(ctx.previous_failures.unwrap_or("none: this is the first attempt")),
                "rules" => out.push_str(&render_prompt(stage, COMMON_RULES, ctx)?),
                other => unreachable!("the parser admits only known placeholders, not `{other}`"),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(features: &[String]) -> PromptContext<'_> {
        PromptContext::new("/p", features)
    }

    #[test]
    fn every_llm_wrapper_stage_names_itself_and_the_features() {
        let features = vec!["word counts".to_owned(), "streaming".to_owned()];
        let stages = find("llm-wrapper").unwrap().render(&ctx(&features)).unwrap();
        let names: Vec<_> = stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["scaffold", "core-implementation", "streaming", "error-handling", "testing", "documentation"]
        );
        for stage in &stages {
            assert!(stage.prompt.starts_with(&format!("Stage: {}\n", stage.name)));
            assert!(stage.prompt.contains("word counts; streaming"), "{}", stage.prompt);
            assert!(stage.prompt.contains("Work only inside /p."));
        }
        assert!(stages[1].requires_approval);
        assert!(!stages[5].run_tests);
    }

    #[test]
    fn every_built_in_template_is_valid_and_each_prompt_starts_with_its_stage() {
        for template in built_in() {
            template.validate().unwrap();
            for stage in &template.stages {
                assert!(
                    stage.prompt.starts_with(&format!("Stage: {}\n", stage.name)),
                    "{}/{}: scenarios match on the first line",
                    template.name,
                    stage.name
                );
            }
        }
        assert_eq!(BUILT_IN_NAMES, ["llm-wrapper", "api", "frontend"]);
    }

    #[test]
    fn an_unknown_placeholder_is_refused_with_stage_line_and_the_known_ones() {
        let template = Template {
            name: "t".to_owned(),
            description: String::new(),
            stages: vec![StageTemplate::new("s", "Stage: s\ndo {feature_x}")],
        };
        let err = template.render(&ctx(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stage `s`, line 2 of its prompt: unknown placeholder `{feature_x}`; known: \
             {project_path}, {features}, {feature}, {issue}, {previous_failures}, {rules} \
             (write `{{` and `}}` for literal braces)"
        );
    }

    #[test]
    fn duplicate_and_missing_stages_are_refused() {
        let mut template = Template {
            name: "t".to_owned(),
            description: String::new(),
            stages: vec![StageTemplate::new("a", "x"), StageTemplate::new("a", "y")],
        };
        assert_eq!(template.validate(), Err(TemplateError::DuplicateStage { stage: "a".to_owned() }));
        template.stages.clear();
        assert!(matches!(template.validate(), Err(TemplateError::NoStages { .. })));
    }

    #[test]
    fn run_specific_placeholders_fall_back_to_what_every_run_has() {
        let features = vec!["a".to_owned(), "b".to_owned()];
        let prompt = "{feature} | {issue} | {previous_failures} | {{literal}}";
        assert_eq!(
            render_prompt("s", prompt, &ctx(&features)).unwrap(),
            "a; b | no specific issue was given | none: this is the first attempt | {literal}"
        );
        let specific = PromptContext {
            feature: Some("a"),
            issue: Some("crash on empty input"),
            previous_failures: Some("test_empty failed"),
            ..ctx(&features)
        };
        assert_eq!(
            render_prompt("s", prompt, &specific).unwrap(),
            "a | crash on empty input | test_empty failed | {literal}"
        );
    }

    #[test]
    fn stage_settings_and_skip_tests_reach_the_plan() {
        let mut stage = StageTemplate::new("docs", "/documentation:api-docs {features}");
        stage.skip_tests = true;
        stage.model = Some("claude-haiku-4-5".to_owned());
        stage.max_turns = Some(5);
        let template = Template { name: "t".to_owned(), description: String::new(), stages: vec![stage] };
        assert_eq!(template.stages[0].command().unwrap().name, "documentation:api-docs");
        let plan = &template.render(&ctx(&["x".to_owned()])).unwrap()[0];
        assert_eq!(plan.prompt, "/documentation:api-docs x");
        assert!(!plan.run_tests);
        assert_eq!(plan.model.as_deref(), Some("claude-haiku-4-5"));
        assert_eq!(plan.max_turns, Some(5));
        assert_eq!(plan.timeout_secs, None);
    }

    #[test]
    fn unknown_template_lists_the_available_ones() {
        let err = find("nope").unwrap_err();
        assert!(err.to_string().contains("available: llm-wrapper, api, frontend"));
    }

    #[test]
    fn stage_names_must_be_usable_in_ids_and_arguments() {
        assert!(check_stage_name("core-implementation").is_ok());
        assert!(check_stage_name("two words").is_err());
        assert!(check_stage_name("").is_err());
    }
}
