//! Running the test-runner process: the activity worker on the tests queue and the control
//! API beside it.

use std::time::Duration;

use ct_fleet::{ActivityWorker, ControlPlane, Membership, RunRegistry};
use ct_proto::control::{DescribeResponse, Limits, Tool};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::activity::TestActivities;
use crate::{Config, Error, Tests};

/// Polls the tests queue and serves the control API on `control` until `shutdown` fires.
pub async fn run(
    config: Config,
    membership: Membership,
    control: TcpListener,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(&str),
) -> Result<(), Error> {
    let control_addr = membership.advertise;
    let identity = ct_fleet::instance_identity("test-runner", control_addr);
    let description = describe(&config, &membership.task_queue, &identity).await;
    let worker = ActivityWorker {
        task_queue: membership.task_queue.clone(),
        capacity: config.capacity,
        grace: membership.grace,
        build: membership.build.clone(),
    };
    let client =
        ct_service::connect_client(&membership.temporal, &identity).await.map_err(|e| Error::Serve(e.to_string()))?;
    ct_contracts::implements(&ct_contracts::StageActivities::run_tests, &TestActivities::run_tests)
        .map_err(Error::Serve)?;
    let runs = RunRegistry::default();
    let mut options = worker.options();
    options.register_activities(TestActivities {
        tests: Tests::new(config),
        runs: runs.clone(),
        identity: identity.clone(),
        build_id: membership.build.build_id.clone(),
        stopping: shutdown.clone(),
    });
    let control = ControlPlane { listener: control, token: membership.control_token, description, runs };
    ct_fleet::run_member(vec![(&worker, options)], client, control, shutdown, || {
        tracing::info!(
            task_queue = %membership.task_queue,
            temporal = %membership.temporal.address,
            control = %control_addr,
            identity = %identity,
            "test-runner polling"
        );
        on_ready(&identity);
    })
    .await
    .map_err(|e| Error::Serve(e.to_string()))
}

async fn describe(config: &Config, task_queue: &str, identity: &str) -> DescribeResponse {
    let python = config.python.clone().unwrap_or_else(|| "python3".into());
    let python = python.to_string_lossy().into_owned();
    let probes = [
        ("python", python.clone(), &["--version"][..]),
        ("pytest", python, &["-m", "pytest", "--version"][..]),
        ("npm", "npm".to_owned(), &["--version"][..]),
        ("cargo", "cargo".to_owned(), &["--version"][..]),
        ("go", "go".to_owned(), &["version"][..]),
    ];
    // At once, not one after the other: each may take a second and start-up waits for all.
    let tools = futures::future::join_all(probes.into_iter().map(|(name, program, args)| async move {
        let version = version_of(&program, args).await;
        Tool { name: name.to_owned(), path: program, version }
    }))
    .await;
    DescribeResponse {
        service: "test-runner".to_owned(),
        instance_id: identity.to_owned(),
        task_queue: task_queue.to_owned(),
        capacity: u32::try_from(config.capacity).unwrap_or(u32::MAX),
        running: 0,
        tools,
        confinement: format!(
            "{}; no_new_privs, resource limits, allow-listed environment, private HOME and TMPDIR, \
             killed with everything it started on timeout or stop; workspace roots enforced",
            config.sandbox.confinement()
        ),
        workspace_roots: config.roots.paths().iter().map(|p| p.display().to_string()).collect(),
        limits: Some(Limits { max_timeout_secs: config.max_timeout.map_or(0, |d| d.as_secs()), ..Limits::default() }),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The first line a version command prints (some print to stderr), or empty.
async fn version_of(program: &str, args: &[&str]) -> String {
    let run = tokio::process::Command::new(program).args(args).kill_on_drop(true).output();
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(out)) if out.status.success() => {
            let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_owned()
        }
        _ => String::new(),
    }
}
