//! The templates that ship with claude-temporal. Every prompt starts with the line
//! `Stage: <name>`, so a reviewer reading a transcript (or a scripted model in a test) can
//! tell the stages apart.

use super::{StageTemplate, Template, TemplateError};

pub const LLM_WRAPPER: &str = "llm-wrapper";
pub const API: &str = "api";
pub const FRONTEND: &str = "frontend";
pub const BUILT_IN_NAMES: [&str; 3] = [LLM_WRAPPER, API, FRONTEND];

/// Every built-in template, in the order `stages list` shows them.
pub fn built_in() -> Vec<Template> {
    vec![llm_wrapper(), api(), frontend()]
}

pub fn find(name: &str) -> Result<Template, TemplateError> {
    built_in()
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| TemplateError::UnknownTemplate { name: name.to_owned(), available: BUILT_IN_NAMES.join(", ") })
}

struct Stage {
    name: &'static str,
    prompt: &'static str,
    requires_approval: bool,
    critical_path: bool,
    skip_tests: bool,
}

fn template(name: &str, description: &str, stages: &[Stage]) -> Template {
    Template {
        name: name.to_owned(),
        description: description.to_owned(),
        stages: stages
            .iter()
            .map(|stage| StageTemplate {
                requires_approval: stage.requires_approval,
                critical_path: stage.critical_path,
                skip_tests: stage.skip_tests,
                ..StageTemplate::new(stage.name, stage.prompt)
            })
            .collect(),
    }
}

fn llm_wrapper() -> Template {
    template(
        LLM_WRAPPER,
        "A library that wraps an LLM API: scaffold, core, streaming, errors, tests, docs",
        &[
            Stage {
                name: "scaffold",
                prompt: "Stage: scaffold\nSet up the project structure for these features: {features}. \
                         Create the package layout, configuration and a smoke test. {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: false,
            },
            Stage {
                name: "core-implementation",
                prompt: "Stage: core-implementation\nImplement the core functionality of these features: \
                         {features}. {rules}",
                requires_approval: true,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "streaming",
                prompt: "Stage: streaming\nAdd streaming support to these features: {features}. \
                         Results must be consumable incrementally. {rules}",
                requires_approval: false,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "error-handling",
                prompt: "Stage: error-handling\nAdd robust error handling to these features: {features}. \
                         Bad input must fail with clear errors. {rules}",
                requires_approval: false,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "testing",
                prompt: "Stage: testing\nWrite thorough tests for these features: {features}, covering \
                         edge cases and failures. {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: false,
            },
            Stage {
                name: "documentation",
                prompt: "Stage: documentation\nDocument these features: {features}: README usage with \
                         examples, and docstrings. {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: true,
            },
        ],
    )
}

fn api() -> Template {
    template(
        API,
        "An HTTP API: contract first, then endpoints, validation, tests and reference docs",
        &[
            Stage {
                name: "design",
                prompt: "Stage: design\nDesign the HTTP API for these features: {features}. Write the \
                         contract where the project keeps it (an existing OpenAPI file, else \
                         docs/api.md): resources and routes, request and response bodies with field \
                         types, status codes, the error body format, pagination and authentication \
                         where they apply. Follow the conventions of any routes the project already \
                         has. Do not implement handlers yet. {rules}",
                requires_approval: true,
                critical_path: false,
                skip_tests: true,
            },
            Stage {
                name: "endpoints",
                prompt: "Stage: endpoints\nImplement the routes and handlers of the agreed API \
                         contract for these features: {features}, using the project's web framework \
                         and data layer. Each endpoint returns exactly the shapes and status codes \
                         of the contract. Add a test per endpoint for its success path. {rules}",
                requires_approval: false,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "validation",
                prompt: "Stage: validation\nValidate every request of these features: {features}: \
                         types, required fields, ranges and formats. Invalid input answers 4xx with \
                         the contract's error body naming the field and the problem; unexpected \
                         failures answer 5xx without leaking internals. Test each rejection. {rules}",
                requires_approval: false,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "testing",
                prompt: "Stage: testing\nWrite integration tests for these features: {features} that \
                         exercise the API over its real routing (the framework's test client), \
                         covering success, validation failures, not-found and conflicting requests. \
                         {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: false,
            },
            Stage {
                name: "documentation",
                prompt: "Stage: documentation\nDocument the API of these features: {features}: an \
                         endpoint reference with example requests and responses (curl), error codes, \
                         and how to run the service locally. Keep the contract file and the code in \
                         agreement. {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: true,
            },
        ],
    )
}

fn frontend() -> Template {
    template(
        FRONTEND,
        "A web frontend: components, state and data, accessibility, tests, docs",
        &[
            Stage {
                name: "components",
                prompt: "Stage: components\nBuild the UI components for these features: {features}, \
                         in the project's framework and component conventions (file layout, styling \
                         approach, naming). Keep components small and presentational where possible; \
                         give each a test that renders it. {rules}",
                requires_approval: true,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "state",
                prompt: "Stage: state\nWire state and data for these features: {features}: where state \
                         lives, how data is fetched and cached, loading, empty and error states in the \
                         UI. Reuse the project's existing state library and API client. {rules}",
                requires_approval: false,
                critical_path: true,
                skip_tests: false,
            },
            Stage {
                name: "accessibility",
                prompt: "Stage: accessibility\nMake these features accessible and responsive: \
                         {features}. Semantic elements, labels for every control, keyboard operation \
                         and visible focus, sufficient contrast, layouts that work on narrow screens. \
                         Add tests that query by role and label. {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: false,
            },
            Stage {
                name: "testing",
                prompt: "Stage: testing\nWrite tests for these features: {features} with the project's \
                         test runner and testing library: user interactions, state transitions, error \
                         and empty states. Test behaviour the user sees, not implementation details. \
                         {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: false,
            },
            Stage {
                name: "documentation",
                prompt: "Stage: documentation\nDocument these features: {features}: what each \
                         component is for and its props, how to run and test the frontend, and any \
                         new configuration. {rules}",
                requires_approval: false,
                critical_path: false,
                skip_tests: true,
            },
        ],
    )
}
