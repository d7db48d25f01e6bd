//! The HTTP side: routes, per-request bookkeeping, and the in-process handle for tests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::Error;
use crate::reply::{Block, error_body, message_events};
use crate::request::{MessagesRequest, substitute_cwd};
use crate::scenario::{Scenario, Turn, Usage};

/// What the model saw in one `POST /v1/messages`, for tests to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Name of the script that answered; `None` when no script matched.
    pub script: Option<String>,
    pub turn: usize,
    /// All text blocks of the first user message (the CLI prepends reminders to the prompt).
    pub first_user_text: String,
    /// Text blocks and tool results of the last user message.
    pub last_user_text: String,
    pub model: String,
    pub system: String,
    /// Text of the `role: "system"` entries of `messages[]`: the CLI's environment notes and
    /// what hooks added to the prompt.
    pub context: String,
    /// The credential the request carried (`x-api-key`, else the `Authorization` bearer).
    pub api_key: Option<String>,
    /// When the request arrived, before any `delay_ms`: tests compare these to tell
    /// whether agent runs overlapped.
    pub received_at: Instant,
}

struct Model {
    scenario: Scenario,
    // Ids must stay unique across restarts of the model: a resumed CLI session still holds the
    // tool-use ids handed out by an earlier process.
    id_seed: u128,
    next_id: AtomicU64,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    requests: Vec<RecordedRequest>,
    /// Requests seen so far per (script index, turn index), for `fail_first`.
    attempts: HashMap<(usize, usize), u32>,
}

impl Model {
    fn new(scenario: Scenario) -> Model {
        let id_seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Model { scenario, id_seed, next_id: AtomicU64::new(0), log: Mutex::default() }
    }

    fn new_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{:x}{n:06}", self.id_seed)
    }

    /// Counts one more request for this turn of this script and returns the count. Shared by
    /// every conversation the script answers.
    fn count_attempt(&self, script_index: usize, turn_index: usize) -> u32 {
        let mut log = self.log();
        let attempts = log.attempts.entry((script_index, turn_index)).or_default();
        *attempts += 1;
        *attempts
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while holding the lock leaves only a log behind; keep serving.
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves the scenario on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, scenario: Scenario, shutdown: CancellationToken) -> Result<(), Error> {
    run(listener, Arc::new(Model::new(scenario)), shutdown).await
}

async fn run(listener: TcpListener, model: Arc<Model>, shutdown: CancellationToken) -> Result<(), Error> {
    let app = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(model);
    axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await.map_err(Error::Serve)
}

fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(error_body(status, message))).into_response()
}

/// A refusal for a usage limit that resets `secs` from now, with the headers the API sends.
fn usage_limit(status: u16, message: &str, secs: u64) -> Response {
    let resets_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + secs;
    let headers = [
        ("anthropic-ratelimit-unified-status", "rejected".to_owned()),
        ("anthropic-ratelimit-unified-representative-claim", "five_hour".to_owned()),
        ("anthropic-ratelimit-unified-reset", resets_at.to_string()),
        ("retry-after", secs.to_string()),
    ];
    let mut response = error(status, message);
    for (name, value) in headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn credential(headers: &axum::http::HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-api-key").or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer "))).map(str::to_owned)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let message = format!("the scripted model does not serve {method} {uri}");
    tracing::warn!("{message}");
    error(404, &message)
}

/// Anthropic's token counter, approximated as one token per four bytes of request.
async fn count_tokens(body: Bytes) -> Json<serde_json::Value> {
    Json(serde_json::json!({"input_tokens": body.len() / 4}))
}

async fn messages(State(model): State<Arc<Model>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let request: MessagesRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return error(400, &format!("not a Messages API request body: {err}")),
    };
    let first_user_text = request.first_user_text();
    let turn_index = request.turn();
    let script = model.scenario.script_for(&first_user_text);
    model.log().requests.push(RecordedRequest {
        script: script.map(|(_, s)| s.name.clone()),
        turn: turn_index,
        first_user_text: first_user_text.clone(),
        last_user_text: request.last_user_text(),
        model: request.model.clone(),
        system: request.system_text(),
        context: request.context_text(),
        api_key: credential(&headers),
        received_at: Instant::now(),
    });

    let Some((script_index, script)) = script else {
        let message = format!(
            "no script of the scenario matches the first user message and none is a fallback (without \"match\"); the message ends with {:?}",
            tail(&first_user_text, 200)
        );
        tracing::warn!("{message}");
        return error(400, &message);
    };
    tracing::info!(script = %script.name, turn = turn_index, "answering");

    let Some(turn) = script.turns.get(turn_index) else {
        let blocks = [Block::Text("Nothing more to do.".to_owned())];
        return stream(&model, &request.model, &blocks, Usage::default());
    };
    if let Some(ms) = turn.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(fail) = turn.fail_first {
        let attempt = model.count_attempt(script_index, turn_index);
        if attempt <= fail.times {
            let message =
                format!("scripted failure {attempt} of {} for script {:?} turn {turn_index}", fail.times, script.name);
            return match fail.resets_in_secs {
                Some(secs) => usage_limit(fail.status, &message, secs),
                None => error(fail.status, &message),
            };
        }
    }
    match blocks(&model, turn, request.cwd().as_deref()) {
        Ok(blocks) => stream(&model, &request.model, &blocks, turn.usage),
        Err(message) => error(400, &message),
    }
}

fn blocks(model: &Model, turn: &Turn, cwd: Option<&str>) -> Result<Vec<Block>, String> {
    let text = turn.text.iter().map(|text| Ok(Block::Text(text.clone())));
    let tools = turn.tool_uses.iter().map(|tool| {
        Ok(Block::ToolUse {
            id: model.new_id("toolu"),
            name: tool.name.clone(),
            input: substitute_cwd(&tool.input, cwd)?,
        })
    });
    text.chain(tools).collect()
}

fn stream(model: &Model, model_name: &str, blocks: &[Block], usage: Usage) -> Response {
    let events = message_events(&model.new_id("msg"), model_name, blocks, usage)
        .into_iter()
        .map(|(name, data)| Ok::<_, Infallible>(Event::default().event(name).data(data.to_string())));
    Sse::new(futures::stream::iter(events)).into_response()
}

fn tail(text: &str, max_chars: usize) -> &str {
    let start = text.char_indices().rev().take(max_chars).last().map_or(text.len(), |(i, _)| i);
    &text[start..]
}

/// A scripted model running in this process on a free loopback port; stops when dropped.
///
/// It serves from a thread and runtime of its own: a test that blocks its runtime's threads (a
/// `std::process::Command::output()` waiting for a CLI that is waiting for the model) cannot
/// starve it, even on one core.
pub struct ScriptedModel {
    addr: SocketAddr,
    model: Arc<Model>,
    shutdown: CancellationToken,
    finished: oneshot::Receiver<Result<(), Error>>,
    _stop_on_drop: DropGuard,
}

impl ScriptedModel {
    pub async fn start(scenario: Scenario) -> std::io::Result<ScriptedModel> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let model = Arc::new(Model::new(scenario));
        let shutdown = CancellationToken::new();
        let (done, finished) = oneshot::channel();
        let serve = (model.clone(), shutdown.clone());
        std::thread::Builder::new().name("scripted-model".to_owned()).spawn(move || {
            let (model, shutdown) = serve;
            let served = tokio::runtime::Builder::new_current_thread().enable_all().build().and_then(|runtime| {
                runtime.block_on(async { Ok(run(TcpListener::from_std(listener)?, model, shutdown).await) })
            });
            // Nobody may be waiting: a model dropped without `shutdown` just stops.
            let _ = done.send(served.map_err(Error::Serve).and_then(|result| result));
        })?;
        Ok(ScriptedModel { addr, model, _stop_on_drop: shutdown.clone().drop_guard(), shutdown, finished })
    }

    /// The value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every `POST /v1/messages` so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.model.log().requests.clone()
    }

    /// Stops accepting requests and waits for open ones to finish.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        match self.finished.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!("{err}"),
            Err(_) => panic!("the scripted model's thread panicked (its message is above)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_characters() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("éàü", 2), "àü");
    }
}
