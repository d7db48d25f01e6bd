//! `.env` files: `KEY=VALUE` lines, as docker compose and most dotenv libraries read them.
//!
//! Supported: blank lines and `#` comments, an optional `export ` prefix, unquoted values
//! (trimmed; ` #` starts a comment), single-quoted values (literal) and double-quoted values
//! (`\n`, `\t`, `\"`, `\\` escapes); quoted values may span lines.

/// One assignment, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) line: usize,
}

pub(crate) use crate::file::Problem;

pub(crate) fn parse(text: &str) -> Result<Vec<Assignment>, Problem> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line_no = index + 1;
        let line = lines[index].trim_start();
        index += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let problem = |reason: String| Problem { line: line_no, reason };
        let (name, rest) = line.split_once('=').ok_or_else(|| problem("expected KEY=VALUE".to_owned()))?;
        let name = name.trim();
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(problem(format!("`{name}` is not a variable name")));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let mut body = rest[1..].to_owned();
                loop {
                    if let Some((value, after)) = close_quote(&body, quote) {
                        let after = after.trim();
                        if !after.is_empty() && !after.starts_with('#') {
                            return Err(problem(format!("unexpected `{after}` after the closing {quote}")));
                        }
                        break value;
                    }
                    let Some(next) = lines.get(index) else {
                        return Err(problem(format!("the {quote} quote is never closed")));
                    };
                    body.push('\n');
                    body.push_str(next);
                    index += 1;
                }
            }
            _ => {
                let end = rest
                    .char_indices()
                    .find(|&(i, c)| c == '#' && (i == 0 || rest[..i].ends_with([' ', '\t'])))
                    .map_or(rest.len(), |(i, _)| i);
                rest[..end].trim().to_owned()
            }
        };
        out.push(Assignment { name: name.to_owned(), value, line: line_no });
    }
    Ok(out)
}

/// The value up to the closing quote (escapes resolved for `"`), and what follows it; `None`
/// when the quote does not close in `body`.
fn close_quote(body: &str, quote: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Some((value, &body[i + 1..])),
            '\\' if quote == '"' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, other)) => value.push(other),
                None => value.push('\\'),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap().into_iter().map(|a| (a.name, a.value)).collect()
    }

    #[test]
    fn reads_the_forms_dotenv_files_use() {
        let text = "# settings\n\
                    CLAUDE_MODEL=claude-sonnet-4-5\n\
                    export TEMPORAL_ADDRESS = temporal:7233   # compose service\n\
                    \n\
                    SLACK_CHANNEL=\"#builds\"\n\
                    NOTIFICATION_WEBHOOK_SECRET='whsec_a#b\\n'\n\
                    GREETING=\"line one\\nline \\\"two\\\"\"\n\
                    MULTI=\"a\n\
                    b\"\n\
                    EMPTY=\n\
                    HASH=a#b\n";
        assert_eq!(
            pairs(text),
            [
                ("CLAUDE_MODEL".into(), "claude-sonnet-4-5".into()),
                ("TEMPORAL_ADDRESS".into(), "temporal:7233".into()),
                ("SLACK_CHANNEL".into(), "#builds".into()),
                ("NOTIFICATION_WEBHOOK_SECRET".into(), "whsec_a#b\\n".into()),
                ("GREETING".into(), "line one\nline \"two\"".into()),
                ("MULTI".into(), "a\nb".into()),
                ("EMPTY".into(), String::new()),
                ("HASH".into(), "a#b".into()),
            ]
        );
    }

    #[test]
    fn assignments_know_their_line() {
        let parsed = parse("\n# c\nA=1\nB=\"x\ny\"\nC=3").unwrap();
        let lines: Vec<usize> = parsed.iter().map(|a| a.line).collect();
        assert_eq!(lines, [3, 4, 6]);
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        assert_eq!(
            parse("A=1\nnot an assignment\n").unwrap_err(),
            Problem { line: 2, reason: "expected KEY=VALUE".to_owned() }
        );
        assert_eq!(parse("1A=x").unwrap_err().reason, "`1A` is not a variable name");
        assert!(parse("A=\"open\nB=2").unwrap_err().reason.contains("never closed"));
        assert!(parse("A=\"x\" y").unwrap_err().reason.contains("after the closing"));
    }
}
