//! One `execute_tool` span per tool use the agent makes, from the `tool_use` block that starts
//! it to the `tool_result` that ends it, children of the run's `invoke_agent` span (the GenAI
//! conventions' shape). The tool's input and output stay out: they may hold anything.

use std::collections::HashMap;

/// The spans of tool uses that have not had their result yet.
#[derive(Debug, Default)]
pub(crate) struct ToolSpans {
    open: HashMap<String, tracing::Span>,
}

impl ToolSpans {
    /// Opens the span of tool use `id`, a child of the current span.
    pub(crate) fn started(&mut self, id: &str, name: &str) {
        let span = tracing::info_span!(
            "execute_tool",
            otel.name = %format!("execute_tool {name}"),
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %name,
            gen_ai.tool.call.id = %id,
            gen_ai.tool.type = "function",
            error.type = tracing::field::Empty,
        );
        self.open.insert(id.to_owned(), span);
    }

    /// Ends the span of tool use `id`; an error result marks it failed.
    pub(crate) fn finished(&mut self, id: &str, is_error: bool) {
        if let Some(span) = self.open.remove(id)
            && is_error
        {
            span.record("otel.status_code", "ERROR").record("error.type", "tool_error");
        }
    }
}
