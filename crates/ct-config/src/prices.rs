//! A price file (`CT_PRICE_TABLE`): model prices added to the built-in table, for models it
//! lacks (an Anthropic-compatible endpoint serving other names) and for price changes.
//!
//! ```toml
//! [[prices]]
//! model = "claude-opus-5-5"   # a model name or the prefix of a family of them
//! effective = "2027-01-01"    # from this day on (UTC)
//! input = 4.0                 # US dollars per million tokens
//! output = 20.0
//! cache_write = 5.0
//! cache_read = 0.2
//! ```

use std::path::Path;

use ct_domain::pricing::{Price, PriceTable, Rates};
use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::file::line_of;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    prices: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    model: String,
    effective: String,
    input: f64,
    output: f64,
    cache_write: f64,
    cache_read: f64,
}

/// The built-in table with the file's prices added (they win over a built-in entry of the same
/// model and date).
pub fn load_prices(path: &Path) -> Result<PriceTable, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let at = |line: usize, reason: String| ConfigError::File { path: path.to_owned(), line, reason };
    let file: PriceFile = toml::from_str(&text)
        .map_err(|err| at(err.span().map_or(1, |span| line_of(&text, span.start)), err.message().trim().to_owned()))?;
    let mut table = PriceTable::built_in();
    for entry in file.prices {
        let line = line_of(&text, entry.span().start);
        let entry = entry.into_inner();
        if !is_date(&entry.effective) {
            return Err(at(line, format!("`effective` must be a date like 2027-01-01, not `{}`", entry.effective)));
        }
        let rates = Rates {
            input: entry.input,
            output: entry.output,
            cache_write: entry.cache_write,
            cache_read: entry.cache_read,
        };
        if [rates.input, rates.output, rates.cache_write, rates.cache_read].iter().any(|r| !r.is_finite() || *r < 0.0) {
            return Err(at(
                line,
                format!("the rates of `{}` must be dollars per million tokens, 0 or more", entry.model),
            ));
        }
        table.add(Price { model: entry.model, effective: entry.effective, rates });
    }
    Ok(table)
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn a_price_file_adds_models_and_later_prices_to_the_built_in_table() {
        let prices = file(
            "[[prices]]\nmodel = \"local-llama\"\neffective = \"2026-01-01\"\ninput = 0.5\noutput = 1.5\ncache_write = 0\ncache_read = 0\n\
             [[prices]]\nmodel = \"claude-opus-5-5\"\neffective = \"2027-01-01\"\ninput = 2\noutput = 10\ncache_write = 2.5\ncache_read = 0.1\n",
        );
        let table = load_prices(prices.path()).unwrap();
        assert_eq!(table.rates("local-llama-70b", "2026-12-03").unwrap().output, 1.5);
        assert_eq!(table.rates("claude-opus-5-5", "2026-12-03").unwrap().input, 4.0, "built in until then");
        assert_eq!(table.rates("claude-opus-5-5", "2027-02-01").unwrap().input, 2.0);
    }

    #[test]
    fn mistakes_are_reported_with_the_file_and_line() {
        let bad_date = file(
            "[[prices]]\nmodel = \"m\"\neffective = \"soon\"\ninput = 1\noutput = 1\ncache_write = 1\ncache_read = 1\n",
        );
        let err = load_prices(bad_date.path()).unwrap_err().to_string();
        assert!(err.ends_with(":1: `effective` must be a date like 2027-01-01, not `soon`"), "{err}");
        let missing = file("[[prices]]\nmodel = \"m\"\neffective = \"2026-01-01\"\ninput = 1\n");
        let err = load_prices(missing.path()).unwrap_err().to_string();
        assert!(err.contains("missing field `output`"), "{err}");
        let negative = file(
            "[[prices]]\nmodel = \"m\"\neffective = \"2026-01-01\"\ninput = -1\noutput = 1\ncache_write = 1\ncache_read = 1\n",
        );
        assert!(load_prices(negative.path()).unwrap_err().to_string().contains("0 or more"));
    }
}
