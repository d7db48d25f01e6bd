//! Scripted model scenarios several tests share.

use ct_scripted_model::Scenario;

/// One script, `build`, for the agent runs whose prompt contains `prompt`: a model response
/// per `(input, output)` token pair, each held `delay_ms`; every response but the last writes
/// `step-<i>.txt`, the last says it is done.
pub fn step_scenario(prompt: &str, responses: &[(u64, u64)], delay_ms: u64) -> Scenario {
    let turns: Vec<serde_json::Value> = responses
        .iter()
        .enumerate()
        .map(|(i, &(input, output))| {
            let mut turn = serde_json::json!({
                "usage": { "input_tokens": input, "output_tokens": output },
                "delay_ms": delay_ms
            });
            if i + 1 < responses.len() {
                turn["tool_uses"] = serde_json::json!([{ "name": "Write", "input": {
                    "file_path": format!("{{cwd}}/step-{i}.txt"), "content": "step\n"
                } }]);
            } else {
                turn["text"] = "Built.".into();
            }
            turn
        })
        .collect();
    let scenario = serde_json::json!({ "scripts": [{ "name": "build", "match": prompt, "turns": turns }] });
    Scenario::from_json(&scenario.to_string()).expect("scenario")
}
