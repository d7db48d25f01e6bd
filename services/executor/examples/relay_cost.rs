//! What the model relay adds to each model request: 200 one-turn Messages requests (streamed, as
//! the CLI sends them) straight to the scripted model over TCP, and 200 through the relay's Unix
//! socket, interleaved; prints the p50 and p90 of each and the difference. (Inside a run the
//! bridge adds one more loopback hop: `agent_confinement_cost` measures whole runs.)
//!
//! `cargo run --release -p ct-executor --example relay_cost`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use ct_confine::Redactor;
use ct_executor::relay::{Relay, Target};
use ct_scripted_model::{Scenario, ScriptedModel};

const REQUESTS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let model =
        ScriptedModel::start(Scenario::from_json(r#"{"scripts": [{"name": "one", "turns": [{"text": "Done."}]}]}"#)?)
            .await?;
    let scratch = tempfile::tempdir()?;
    let mut env = BTreeMap::from([
        ("ANTHROPIC_BASE_URL".to_owned(), model.base_url()),
        ("ANTHROPIC_API_KEY".to_owned(), "sk-bench".to_owned()),
    ]);
    let socket = scratch.path().join("relay.sock");
    let _relay = Relay::start(socket.clone(), Target::seal(&mut env, Arc::new(Redactor::from_env([]))))?;
    let direct = reqwest::Client::new();
    let relayed = reqwest::Client::builder().unix_socket(socket).build()?;
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "one"}]
    });
    let send = |client: &reqwest::Client, url: String, body: &serde_json::Value| {
        let request =
            client.post(url).header("x-api-key", "sk-bench").header("anthropic-version", "2023-06-01").json(body);
        async move {
            let started = Instant::now();
            let response = request.send().await?.error_for_status()?;
            response.bytes().await?;
            anyhow::Ok(started.elapsed().as_secs_f64() * 1e3)
        }
    };
    let (mut straight, mut through) = (Vec::new(), Vec::new());
    for i in 0..REQUESTS + 20 {
        let a = send(&direct, format!("{}/v1/messages?beta=true", model.base_url()), &body).await?;
        let b = send(&relayed, "http://relay/v1/messages?beta=true".to_owned(), &body).await?;
        // The first 20 warm both connections up.
        if i >= 20 {
            straight.push(a);
            through.push(b);
        }
    }
    let (d50, d90) = quantiles(&mut straight);
    let (r50, r90) = quantiles(&mut through);
    println!(
        "model request, {REQUESTS} each: direct p50 {d50:.2} ms p90 {d90:.2} ms; relayed p50 {r50:.2} ms p90 {r90:.2} ms; the relay adds {:+.2} ms p50",
        r50 - d50
    );
    Ok(())
}

fn quantiles(times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9))
}
