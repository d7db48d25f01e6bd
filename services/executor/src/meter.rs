//! Tokens and cost of a run as it streams. With `--include-partial-messages` the CLI passes on
//! the model's raw stream events: `message_start` carries a response's input and cache tokens,
//! `message_delta` its final output tokens. Each response is priced when it ends, at the rates
//! of the model that gave it; the CLI's `result` stays the final word on the run's cost.

use std::sync::Arc;

use crate::messages::UsageSoFar;
use ct_domain::pricing::PriceTable;
use ct_domain::spend::Tokens;
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct Meter {
    prices: Arc<PriceTable>,
    /// The day whose rates apply (`YYYY-MM-DD`, UTC), fixed when the run starts.
    day: String,
    so_far: Tokens,
    cost_usd: Option<f64>,
    responses: u32,
    /// The response being streamed: its model and what `message_start` said it used.
    open: Option<(String, Tokens)>,
    last_model: String,
}

impl Meter {
    /// A meter applying the rates in effect today (UTC).
    pub(crate) fn today(prices: Arc<PriceTable>) -> Self {
        Self::on(prices, chrono::Utc::now().format("%Y-%m-%d").to_string())
    }

    fn on(prices: Arc<PriceTable>, day: String) -> Self {
        Self {
            prices,
            day,
            so_far: Tokens::default(),
            cost_usd: Some(0.0),
            responses: 0,
            open: None,
            last_model: String::new(),
        }
    }

    /// Takes one raw stream event; returns the run's figures when it ended a response.
    pub(crate) fn observe(&mut self, event: &Value) -> Option<UsageSoFar> {
        match event["type"].as_str()? {
            "message_start" => {
                let message = &event["message"];
                let model = message["model"].as_str().unwrap_or_default().to_owned();
                self.open = Some((model, tokens_of(&message["usage"])));
                None
            }
            "message_delta" => {
                let (model, mut tokens) = self.open.take()?;
                // The delta's usage is the response's final count; input and cache tokens are
                // only there when the API repeats them.
                let last = tokens_of(&event["usage"]);
                tokens.output = last.output;
                tokens.input = tokens.input.max(last.input);
                tokens.cache_read = tokens.cache_read.max(last.cache_read);
                tokens.cache_write = tokens.cache_write.max(last.cache_write);
                let priced = self.prices.rates(&model, &self.day).map(|rates| rates.cost(&tokens));
                self.cost_usd = self.cost_usd.zip(priced).map(|(sum, cost)| sum + cost);
                self.so_far += tokens;
                self.responses += 1;
                self.last_model = model;
                Some(self.figures())
            }
            _ => None,
        }
    }

    /// The run's cost so far; `None` once a response came from a model the table lacks.
    pub(crate) fn cost_usd(&self) -> Option<f64> {
        self.cost_usd
    }

    pub(crate) fn figures(&self) -> UsageSoFar {
        UsageSoFar {
            tokens: self.so_far,
            cost_usd: self.cost_usd,
            model: self.last_model.clone(),
            responses: self.responses,
        }
    }
}

fn tokens_of(usage: &Value) -> Tokens {
    let count = |name: &str| usage[name].as_u64().unwrap_or(0);
    Tokens {
        input: count("input_tokens"),
        output: count("output_tokens"),
        cache_read: count("cache_read_input_tokens"),
        cache_write: count("cache_creation_input_tokens"),
    }
}

/// Logs when the executor's pricing and the CLI's differ by more than 1%: the price table
/// needs an entry or an update.
pub(crate) fn compare_with_cli(live: Option<f64>, cli_usd: f64, model: &str) {
    let Some(live) = live else {
        tracing::info!(model, cli_usd, "the price table has no rates for this model: live cost was unknown");
        return;
    };
    if (live - cli_usd).abs() > cli_usd.abs() * 0.01 {
        tracing::warn!(
            model,
            live_usd = live,
            cli_usd,
            "live cost and the CLI's differ by more than 1%; check the price table"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meter() -> Meter {
        Meter::on(Arc::new(PriceTable::built_in()), "2026-12-03".to_owned())
    }

    fn response(model: &str, input: u64, output: u64) -> [Value; 2] {
        [
            json!({"type": "message_start", "message": {"model": model, "usage": {"input_tokens": input, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}}),
            json!({"type": "message_delta", "usage": {"output_tokens": output}}),
        ]
    }

    #[test]
    fn each_ended_response_adds_its_final_usage_and_cost() {
        let mut meter = meter();
        let [start, end] = response("claude-opus-5-5", 100, 50);
        assert_eq!(meter.observe(&start), None, "a response counts once it ends");
        assert_eq!(meter.observe(&json!({"type": "content_block_delta"})), None);
        let first = meter.observe(&end).unwrap();
        assert_eq!(first.tokens.output, 50);
        let [start, end] = response("claude-opus-5-5", 120, 30);
        meter.observe(&start);
        let second = meter.observe(&end).unwrap();
        let tokens = second.tokens;
        assert_eq!((tokens.input, tokens.output, second.responses), (220, 80, 2));
        // 220 × $4 + 80 × $20 per million, as the CLI prices claude-opus-5-5.
        assert!((second.cost_usd.unwrap() - 0.00248).abs() < 1e-12, "{second:?}");
    }

    #[test]
    fn a_response_from_an_unpriced_model_makes_the_cost_unknown_not_guessed() {
        let mut meter = meter();
        for event in response("claude-opus-5-5", 10, 5).iter().chain(&response("some-local-model", 10, 5)) {
            meter.observe(event);
        }
        let figures = meter.figures();
        assert_eq!(figures.cost_usd, None);
        assert_eq!(figures.tokens.output, 10, "tokens are still counted");
        assert_eq!(figures.model, "some-local-model");
    }
}
