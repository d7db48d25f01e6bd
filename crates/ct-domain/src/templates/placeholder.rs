//! The placeholder syntax of prompts: `{name}` is replaced when the prompt is rendered;
//! `{{` and `}}` stand for literal braces.

/// Every placeholder a prompt may use, with what it becomes.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("project_path", "absolute path of the project's work tree"),
    ("features", "every feature of the run, joined with `; `"),
    ("feature", "the feature this run builds (in a per-feature run), else all features"),
    ("issue", "the issue being fixed, when the run has one"),
    ("previous_failures", "what failed in earlier attempts (test names and output), when any"),
    ("rules", "the common working rules: stay in the project, keep tests green, do not commit"),
];

/// A piece of a prompt: literal text or a placeholder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    /// A doubled brace, standing for one literal brace.
    Brace(char),
    Placeholder(&'a str),
}

/// Where and why a prompt's placeholders are wrong. `offset` is the byte offset of the
/// offending `{` in the prompt, so a caller that knows where the prompt came from can name
/// the exact line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderProblem {
    pub offset: usize,
    pub reason: String,
}

impl PlaceholderProblem {
    /// The 1-based line of the problem inside the prompt.
    pub fn line_in_prompt(&self, prompt: &str) -> usize {
        prompt[..self.offset.min(prompt.len())].matches('\n').count() + 1
    }
}

/// Splits a prompt into text and placeholders, refusing names that are not placeholders
/// and braces that are never closed.
pub(crate) fn parse(prompt: &str) -> Result<Vec<Piece<'_>>, PlaceholderProblem> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    let bytes = prompt.as_bytes();
    while at < bytes.len() {
        match bytes[at] {
            brace @ (b'{' | b'}') if bytes.get(at + 1) == Some(&brace) => {
                push_text(&mut pieces, &prompt[text_start..at]);
                pieces.push(Piece::Brace(char::from(brace)));
                at += 2;
                text_start = at;
            }
            b'{' => {
                push_text(&mut pieces, &prompt[text_start..at]);
                let close = prompt[at + 1..].find(['}', '\n']).map(|i| at + 1 + i);
                let Some(close) = close.filter(|&c| bytes[c] == b'}') else {
                    return Err(PlaceholderProblem {
                        offset: at,
                        reason: "`{` is never closed on its line; write `{{` for a literal brace".to_owned(),
                    });
                };
                let name = &prompt[at + 1..close];
                if !PLACEHOLDERS.iter().any(|(known, _)| *known == name) {
                    return Err(PlaceholderProblem {
                        offset: at,
                        reason: format!(
                            "unknown placeholder `{{{name}}}`; known: {} (write `{{{{` and `}}}}` for literal braces)",
                            known_list()
                        ),
                    });
                }
                pieces.push(Piece::Placeholder(name));
                at = close + 1;
                text_start = at;
            }
            _ => at += 1,
        }
    }
    push_text(&mut pieces, &prompt[text_start..]);
    Ok(pieces)
}

fn push_text<'a>(pieces: &mut Vec<Piece<'a>>, text: &'a str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
}

pub(crate) fn known_list() -> String {
    PLACEHOLDERS.iter().map(|(name, _)| format!("{{{name}}}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_placeholders_and_literal_braces_are_told_apart() {
        let pieces = parse("Build {features} as {{\"json\": 1}} in {project_path}").unwrap();
        assert_eq!(
            pieces,
            [
                Piece::Text("Build "),
                Piece::Placeholder("features"),
                Piece::Text(" as "),
                Piece::Brace('{'),
                Piece::Text("\"json\": 1"),
                Piece::Brace('}'),
                Piece::Text(" in "),
                Piece::Placeholder("project_path"),
            ]
        );
    }

    #[test]
    fn an_unknown_placeholder_is_located_by_line() {
        let prompt = "Stage: x\nFix {issue}\nthen {isue} again";
        let problem = parse(prompt).unwrap_err();
        assert_eq!(problem.line_in_prompt(prompt), 3);
        assert!(problem.reason.starts_with("unknown placeholder `{isue}`; known: {project_path}"));
    }

    #[test]
    fn an_unclosed_brace_is_refused_even_when_a_later_line_closes_one() {
        let prompt = "a { b\nc }";
        let problem = parse(prompt).unwrap_err();
        assert_eq!(problem.offset, 2);
        assert!(problem.reason.contains("never closed"));
    }

    #[test]
    fn a_lone_closing_brace_is_plain_text() {
        assert_eq!(parse("a } b").unwrap(), [Piece::Text("a } b")]);
    }
}
