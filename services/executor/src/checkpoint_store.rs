//! Where checkpoints are kept so that a retry on any executor can resume the run: one object
//! per agent activity in a NATS object store bucket (the conversation as its content, the rest
//! as its metadata). Each checkpoint replaces the one before; the object goes when its attempt
//! ends in a way that leaves nothing to resume, and the bucket forgets what nobody removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::messages::Checkpoint;
use async_nats::jetstream::{self, object_store};
use tokio::io::AsyncReadExt;
use tokio::sync::{OnceCell, watch};

use ct_contracts::names::CHECKPOINT_BUCKET as BUCKET;

use crate::checkpoint::MAX_CONVERSATION_BYTES;
/// How long a checkpoint nobody removed is kept: longer than any retry waits.
const KEPT_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long the end of a run waits for its last checkpoint to be stored.
const LAST_UPLOAD: Duration = Duration::from_secs(5);
/// How long a retry looks for the checkpoint before it starts over: NATS may be away.
const LOOKUP: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub(crate) struct CheckpointStore {
    context: jetstream::Context,
    bucket: Arc<OnceCell<object_store::ObjectStore>>,
}

impl CheckpointStore {
    /// Connects in the background, like the event publisher: NATS may come up later.
    pub(crate) async fn connect(
        nats_url: &str,
        login: Option<&ct_events::NatsLogin>,
    ) -> Result<Self, ct_events::Error> {
        let client = ct_events::connect(nats_url, login, "ct-executor-checkpoints").await?;
        Ok(Self { context: jetstream::new(client), bucket: Arc::default() })
    }

    async fn bucket(&self) -> Result<&object_store::ObjectStore, String> {
        self.bucket
            .get_or_try_init(|| async {
                if let Ok(bucket) = self.context.get_object_store(BUCKET).await {
                    return Ok(bucket);
                }
                let config = object_store::Config {
                    bucket: BUCKET.to_owned(),
                    description: Some("claude-temporal: agent runs to resume after their executor died".to_owned()),
                    max_age: KEPT_FOR,
                    ..object_store::Config::default()
                };
                self.context
                    .create_object_store(config)
                    .await
                    .map_err(|err| format!("cannot open the NATS object store {BUCKET}: {err}"))
            })
            .await
    }

    /// Stores `checkpoint` as the one to resume `key` from.
    pub(crate) async fn put(&self, key: &str, checkpoint: &Checkpoint) -> Result<(), String> {
        let metadata = HashMap::from([
            ("session_id".to_owned(), checkpoint.session_id.clone()),
            ("transcript_path".to_owned(), checkpoint.transcript_path.clone()),
            ("tree".to_owned(), checkpoint.tree.clone()),
            ("before_tree".to_owned(), checkpoint.before_tree.clone()),
            ("responses".to_owned(), checkpoint.responses.to_string()),
        ]);
        let meta = object_store::ObjectMetadata { name: key.to_owned(), metadata, ..Default::default() };
        self.bucket()
            .await?
            .put(meta, &mut checkpoint.transcript.as_slice())
            .await
            .map(drop)
            .map_err(|err| format!("cannot store the checkpoint of {key}: {err}"))
    }

    /// The checkpoint to resume `key` from, if an earlier attempt left one.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Checkpoint>, String> {
        tokio::time::timeout(LOOKUP, self.fetch(key))
            .await
            .unwrap_or_else(|_| Err(format!("NATS did not answer within {LOOKUP:?}")))
    }

    async fn fetch(&self, key: &str) -> Result<Option<Checkpoint>, String> {
        let mut object = match self.bucket().await?.get(key).await {
            Ok(object) => object,
            Err(err) if err.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot read the checkpoint of {key}: {err}")),
        };
        // Anyone who could write the bucket could have put anything there: the size it claims
        // sizes nothing, and no more than the limit is read whatever it claims.
        let limit = MAX_CONVERSATION_BYTES;
        let too_large = || {
            format!(
                "the checkpoint of {key} holds more than {limit} bytes, the most a checkpoint may hold; starting over"
            )
        };
        if object.info.size as u64 > limit {
            return Err(too_large());
        }
        let field = |name: &str| object.info.metadata.get(name).cloned().unwrap_or_default();
        let mut checkpoint = Checkpoint {
            session_id: field("session_id"),
            transcript_path: field("transcript_path"),
            tree: field("tree"),
            before_tree: field("before_tree"),
            responses: field("responses").parse().unwrap_or(0),
            transcript: Vec::with_capacity(object.info.size),
        };
        (&mut object)
            .take(limit + 1)
            .read_to_end(&mut checkpoint.transcript)
            .await
            .map_err(|err| format!("cannot read the checkpoint of {key}: {err}"))?;
        if checkpoint.transcript.len() as u64 > limit {
            return Err(too_large());
        }
        if checkpoint.session_id.is_empty() || checkpoint.tree.is_empty() {
            return Err(format!("the checkpoint of {key} lacks its session or work tree"));
        }
        Ok(Some(checkpoint))
    }

    pub(crate) async fn remove(&self, key: &str) -> Result<(), String> {
        match self.bucket().await?.delete(key).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
            Err(err) => Err(format!("cannot remove the checkpoint of {key}: {err}")),
        }
    }

    /// Stores the checkpoints of one attempt in the background, the latest first: a slow
    /// NATS never holds up the agent, and a newer checkpoint replaces one not yet stored.
    pub(crate) fn uploads(&self, key: String) -> Uploads {
        let (latest, mut offered) = watch::channel::<Option<Checkpoint>>(None);
        let store = self.clone();
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            while offered.changed().await.is_ok() {
                let Some(checkpoint) = offered.borrow_and_update().clone() else { continue };
                if let Err(err) = store.put(&task_key, &checkpoint).await {
                    tracing::warn!(%err, "a retry of this run could not resume from this point");
                }
            }
        });
        Uploads { store: self.clone(), key, latest, task }
    }
}

/// The background storing of one attempt's checkpoints.
pub(crate) struct Uploads {
    store: CheckpointStore,
    key: String,
    latest: watch::Sender<Option<Checkpoint>>,
    task: tokio::task::JoinHandle<()>,
}

impl Uploads {
    pub(crate) fn offer(&self, checkpoint: Checkpoint) {
        self.latest.send_replace(Some(checkpoint));
    }

    /// In the background, so that a NATS outage never holds up the attempt's end: waits
    /// (briefly) for the last checkpoint to be stored, then, unless a retry may resume from it
    /// (`keep`), removes it. A checkpoint left behind is harmless: a retry resumes only an
    /// attempt whose last heartbeat says it did not finish.
    pub(crate) fn finish(self, keep: bool) {
        let Uploads { store, key, latest, task } = self;
        drop(latest);
        tokio::spawn(async move {
            if tokio::time::timeout(LAST_UPLOAD, task).await.is_err() {
                tracing::warn!("the last checkpoint was not stored in time");
            }
            if !keep
                && let Err(err) = tokio::time::timeout(LAST_UPLOAD, store.remove(&key))
                    .await
                    .unwrap_or_else(|_| Err("NATS did not answer".to_owned()))
            {
                tracing::warn!(%err, "a checkpoint outlives its run until the bucket forgets it");
            }
        });
    }
}
