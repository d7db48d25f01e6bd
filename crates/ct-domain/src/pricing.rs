//! What a model's tokens cost: rates per million tokens for each model family, each from the
//! date it took effect. A model name is priced by the longest family prefix it starts with
//! (`claude-sonnet-4-5-20250929` is `claude-sonnet-4-5`); a model no entry names has no price,
//! and its cost is unknown rather than guessed.

use serde::{Deserialize, Serialize};

use crate::spend::Tokens;

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_write: f64,
    pub cache_read: f64,
}

impl Rates {
    pub fn cost(&self, tokens: &Tokens) -> f64 {
        let per_token = |count: u64, rate: f64| count as f64 * rate / 1_000_000.0;
        per_token(tokens.input, self.input)
            + per_token(tokens.output, self.output)
            + per_token(tokens.cache_write, self.cache_write)
            + per_token(tokens.cache_read, self.cache_read)
    }
}

/// One model family's rates from `effective` (an ISO date, `YYYY-MM-DD`) on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub model: String,
    pub effective: String,
    pub rates: Rates,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    prices: Vec<Price>,
}

/// The rates the Claude Code CLI itself applies (measured with 2.1.331), so that live figures
/// and the CLI's final `total_cost_usd` agree.
const BUILT_IN: &[(&str, &str, [f64; 4])] = &[
    ("claude-opus-5-5", "2026-01-01", [4.0, 20.0, 5.0, 0.2]),
    ("claude-opus-4-5", "2025-11-24", [5.0, 25.0, 6.25, 0.5]),
    ("claude-opus-4-1", "2025-08-05", [15.0, 75.0, 18.75, 1.5]),
    ("claude-opus-4", "2025-05-22", [15.0, 75.0, 18.75, 1.5]),
    ("claude-sonnet-4-5", "2025-09-29", [3.0, 15.0, 3.75, 0.3]),
    ("claude-sonnet-4", "2025-05-22", [3.0, 15.0, 3.75, 0.3]),
    ("claude-haiku-4-5", "2025-10-15", [1.0, 5.0, 1.25, 0.1]),
    ("claude-3-5-haiku", "2024-10-22", [0.8, 4.0, 1.0, 0.08]),
];

impl PriceTable {
    pub fn built_in() -> Self {
        let prices = BUILT_IN
            .iter()
            .map(|&(model, effective, [input, output, cache_write, cache_read])| Price {
                model: model.to_owned(),
                effective: effective.to_owned(),
                rates: Rates { input, output, cache_write, cache_read },
            })
            .collect();
        Self { prices }
    }

    /// Adds `price`, replacing an entry of the same model and date.
    pub fn add(&mut self, price: Price) {
        self.prices.retain(|p| p.model != price.model || p.effective != price.effective);
        self.prices.push(price);
    }

    /// The rates for `model` on `date` (`YYYY-MM-DD`): the longest family prefix that names it,
    /// and of that family the entry that took effect last on or before the date.
    pub fn rates(&self, model: &str, date: &str) -> Option<Rates> {
        self.prices
            .iter()
            .filter(|p| model.starts_with(&p.model) && p.effective.as_str() <= date)
            .max_by(|a, b| a.model.len().cmp(&b.model.len()).then_with(|| a.effective.cmp(&b.effective)))
            .map(|p| p.rates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_model_names_are_priced_by_their_family_and_unknown_ones_not_at_all() {
        let table = PriceTable::built_in();
        let sonnet = table.rates("claude-sonnet-4-5-20250929", "2026-12-03").unwrap();
        assert_eq!(sonnet.output, 15.0);
        // `claude-opus-4-5` is not `claude-opus-4` although it starts with it.
        assert_eq!(table.rates("claude-opus-4-5-20251101", "2026-12-03").unwrap().input, 5.0);
        assert_eq!(table.rates("claude-opus-4-20250514", "2026-12-03").unwrap().input, 15.0);
        assert_eq!(table.rates("gpt-5", "2026-12-03"), None);
        assert_eq!(table.rates("claude-opus-5-5", "2025-12-31"), None, "not yet in effect");
    }

    #[test]
    fn a_later_entry_replaces_an_earlier_one_from_its_date() {
        let mut table = PriceTable::built_in();
        let cheaper = Rates { input: 2.0, output: 10.0, cache_write: 2.5, cache_read: 0.1 };
        table.add(Price { model: "claude-opus-5-5".to_owned(), effective: "2027-01-01".to_owned(), rates: cheaper });
        assert_eq!(table.rates("claude-opus-5-5", "2026-12-31").unwrap().input, 4.0);
        assert_eq!(table.rates("claude-opus-5-5", "2027-01-01"), Some(cheaper));
    }

    #[test]
    fn cost_adds_every_kind_of_token_at_its_rate() {
        let rates = PriceTable::built_in().rates("claude-opus-5-5", "2026-12-03").unwrap();
        // The figure the CLI reported for 22 input and 8 output tokens.
        let tokens = Tokens { input: 22, output: 8, ..Tokens::default() };
        assert!((rates.cost(&tokens) - 0.000248).abs() < 1e-12);
        let cached = Tokens { cache_write: 1_000_000, cache_read: 1_000_000, ..Tokens::default() };
        assert!((rates.cost(&cached) - 5.2).abs() < 1e-9);
    }
}
