//! Config files (and the presets, which have the same shape): TOML whose tables mirror the
//! dotted keys, e.g. `[claude] max_tokens = 16000` sets `claude.max_tokens`.

use toml::de::{DeTable, DeValue};

use crate::keys::{self, KEYS};

/// A value of a file, as text, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileValue {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
}

/// What is wrong on which line (of a config file or a `.env` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Every setting a file sets. Unknown keys are refused: a typo would otherwise be ignored
/// without a word.
pub(crate) fn read(text: &str) -> Result<Vec<FileValue>, Problem> {
    let table = DeTable::parse(text).map_err(|err| Problem {
        line: err.span().map_or(1, |span| line_of(text, span.start)),
        reason: err.message().trim().to_owned(),
    })?;
    let mut values = Vec::new();
    walk(text, "", table.get_ref(), &mut values)?;
    Ok(values)
}

fn walk(text: &str, prefix: &str, table: &DeTable<'_>, out: &mut Vec<FileValue>) -> Result<(), Problem> {
    for (name, value) in table {
        let key = if prefix.is_empty() { name.get_ref().to_string() } else { format!("{prefix}.{}", name.get_ref()) };
        let line = line_of(text, name.span().start);
        let is_section = KEYS.iter().any(|def| def.key.starts_with(&format!("{key}.")));
        match value.get_ref() {
            DeValue::Table(inner) if is_section => walk(text, &key, inner, out)?,
            _ if is_section => {
                return Err(Problem {
                    line,
                    reason: format!("`{key}` is a section: write [{key}] and its keys below it"),
                });
            }
            _ if keys::def(&key).is_none() => {
                return Err(Problem { line, reason: format!("unknown key `{key}`; known keys: {}", known_keys()) });
            }
            scalar => out.push(FileValue {
                value: scalar_text(scalar).map_err(|reason| Problem { line, reason: format!("`{key}`: {reason}") })?,
                key,
                line,
            }),
        }
    }
    Ok(())
}

fn scalar_text(value: &DeValue<'_>) -> Result<String, String> {
    Ok(match value {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .map_err(|err| format!("integer {i} cannot be read ({err})"))?
            .to_string(),
        DeValue::Float(f) => f.as_str().to_owned(),
        DeValue::Boolean(b) => b.to_string(),
        // Lists are how several notification types are written.
        DeValue::Array(items) => items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::String(s) => Ok(s.to_string()),
                _ => Err("a list may only hold strings".to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        DeValue::Datetime(_) => return Err("dates are not a setting's value".to_owned()),
        DeValue::Table(_) => return Err("expected a value, found a table".to_owned()),
    })
}

pub(crate) fn known_keys() -> String {
    KEYS.iter().map(|def| def.key).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_dotted_keys_flatten_to_setting_keys_with_lines() {
        let text = "environment = \"staging\"\n\n[claude]\nmax_tokens = 0x10\nmodel = 'm'\n\
                    [notification]\ntype = [\"console\", \"slack\"]\n";
        let values = read(text).unwrap();
        let got: Vec<(&str, &str, usize)> = values.iter().map(|v| (v.key.as_str(), v.value.as_str(), v.line)).collect();
        assert_eq!(
            got,
            [
                ("claude.max_tokens", "16", 4),
                ("claude.model", "m", 5),
                ("environment", "staging", 1),
                ("notification.type", "console,slack", 7),
            ]
        );
        let dotted = read("claude.timeout_secs = 60").unwrap();
        assert_eq!(dotted[0].key, "claude.timeout_secs");
    }

    #[test]
    fn unknown_keys_and_bad_toml_name_their_line() {
        let err = read("[claude]\nmax_tokns = 1\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.starts_with("unknown key `claude.max_tokns`; known keys: environment,"));
        let err = read("a = 1\n[claude\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = read("claude = 3").unwrap_err();
        assert!(err.reason.contains("is a section"), "{}", err.reason);
    }
}
