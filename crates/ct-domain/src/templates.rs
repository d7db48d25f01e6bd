//! Built-in stage templates and the rendering of their prompts.

use crate::StagePlan;

/// A stage before its prompt is rendered for a project.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTemplate {
    pub name: &'static str,
    pub prompt: &'static str,
    pub requires_approval: bool,
    pub run_tests: bool,
    pub critical_path: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: &'static str,
    pub description: &'static str,
    pub stages: &'static [StageTemplate],
}

/// What a prompt's placeholders are filled with.
#[derive(Debug, Clone)]
pub struct PromptContext<'a> {
    pub project_path: &'a str,
    pub features: &'a [String],
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("unknown template `{name}`; available: {available}")]
    UnknownTemplate { name: String, available: String },
    #[error("stage `{stage}`: unknown placeholder `{{{placeholder}}}`; known: {{project_path}}, {{features}}")]
    UnknownPlaceholder { stage: String, placeholder: String },
    #[error("stage `{stage}`: unclosed `{{` in prompt")]
    UnclosedPlaceholder { stage: String },
}

const COMMON_RULES: &str = "Work only inside {project_path}. Keep the project's tests passing; \
add tests for what you build. Do not commit: the workflow snapshots and reviews your changes.";

pub const LLM_WRAPPER: Template = Template {
    name: "llm-wrapper",
    description: "A library that wraps an LLM API: scaffold, core, streaming, errors, tests, docs",
    stages: &[
        StageTemplate {
            name: "scaffold",
            prompt: "Stage: scaffold\nSet up the project structure for these features: {features}. \
                     Create the package layout, configuration and a smoke test. {rules}",
            requires_approval: false,
            run_tests: true,
            critical_path: false,
        },
        StageTemplate {
            name: "core-implementation",
            prompt: "Stage: core-implementation\nImplement the core functionality of these features: \
                     {features}. {rules}",
            requires_approval: true,
            run_tests: true,
            critical_path: true,
        },
        StageTemplate {
            name: "streaming",
            prompt: "Stage: streaming\nAdd streaming support to these features: {features}. \
                     Results must be consumable incrementally. {rules}",
            requires_approval: false,
            run_tests: true,
            critical_path: true,
        },
        StageTemplate {
            name: "error-handling",
            prompt: "Stage: error-handling\nAdd robust error handling to these features: {features}. \
                     Bad input must fail with clear errors. {rules}",
            requires_approval: false,
            run_tests: true,
            critical_path: true,
        },
        StageTemplate {
            name: "testing",
            prompt: "Stage: testing\nWrite thorough tests for these features: {features}, covering \
                     edge cases and failures. {rules}",
            requires_approval: false,
            run_tests: true,
            critical_path: false,
        },
        StageTemplate {
            name: "documentation",
            prompt: "Stage: documentation\nDocument these features: {features}: README usage with \
                     examples, and docstrings. {rules}",
            requires_approval: false,
            run_tests: false,
            critical_path: false,
        },
    ],
};

pub const BUILT_IN: &[Template] = &[LLM_WRAPPER];

pub fn find(name: &str) -> Result<&'static Template, TemplateError> {
    BUILT_IN
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| TemplateError::UnknownTemplate {
            name: name.to_owned(),
            available: BUILT_IN.iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
        })
}

impl Template {
    /// Renders every stage's prompt for one project.
    pub fn render(&self, ctx: &PromptContext<'_>) -> Result<Vec<StagePlan>, TemplateError> {
        self.stages
            .iter()
            .map(|stage| {
                Ok(StagePlan {
                    name: stage.name.to_owned(),
                    prompt: render_prompt(stage.name, stage.prompt, ctx)?,
                    requires_approval: stage.requires_approval,
                    run_tests: stage.run_tests,
                    critical_path: stage.critical_path,
                })
            })
            .collect()
    }
}

fn render_prompt(stage: &str, prompt: &str, ctx: &PromptContext<'_>) -> Result<String, TemplateError> {
    let features = if ctx.features.is_empty() {
        "the project's existing goals (no features were named)".to_owned()
    } else {
        ctx.features.join("; ")
    };
    let mut out = String::with_capacity(prompt.len() + 256);
    let mut rest = prompt;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| TemplateError::UnclosedPlaceholder {
            stage: stage.to_owned(),
        })?;
        match &after[..close] {
            "project_path" => out.push_str(ctx.project_path),
            "features" => out.push_str(&features),
            "rules" => out.push_str(&render_prompt(stage, COMMON_RULES, ctx)?),
            other => {
                return Err(TemplateError::UnknownPlaceholder {
                    stage: stage.to_owned(),
                    placeholder: other.to_owned(),
                });
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(features: &'a [String]) -> PromptContext<'a> {
        PromptContext { project_path: "/p", features }
    }

    #[test]
    fn every_stage_prompt_names_its_stage_and_the_features() {
        let features = vec!["word counts".to_owned(), "streaming".to_owned()];
        let stages = LLM_WRAPPER.render(&ctx(&features)).unwrap();
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
    fn unknown_placeholder_is_refused_with_stage_and_name() {
        let err = render_prompt("s", "do {feature_x}", &ctx(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stage `s`: unknown placeholder `{feature_x}`; known: {project_path}, {features}"
        );
    }

    #[test]
    fn unknown_template_lists_the_available_ones() {
        let err = find("nope").unwrap_err();
        assert!(err.to_string().contains("available: llm-wrapper"));
    }
}
