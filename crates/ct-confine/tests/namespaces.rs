//! A run in namespaces of its own (bubblewrap + the `ct-sandbox` init), on real processes: what it
//! can write, see and reach. Skips itself (saying so) where bubblewrap cannot build namespaces.

use std::path::{Path, PathBuf};
use std::process::Output;

use ct_confine::{Bridge, Mode, Policy, Sandbox};
use tokio::io::AsyncWriteExt;

fn sandbox() -> Option<Sandbox> {
    // SAFETY of the environment change: set once, before any thread of this test binary reads it.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("CT_SANDBOX_INIT", env!("CARGO_BIN_EXE_ct-sandbox"));
    }
    let sandbox = Sandbox::new(Mode::Auto, false).ok()?;
    if !sandbox.has_namespaces() {
        ct_confine::skip::skip_test(&format!("no namespaces here: {}", sandbox.describe()));
        return None;
    }
    Some(sandbox)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn run(sandbox: &Sandbox, policy: &Policy, script: &str) -> Output {
    let prepared = sandbox.prepare(policy).expect("the policy builds");
    let mut command = prepared.command(Path::new("bash"));
    command.args(["-c", script]).env_clear().env("PATH", "/usr/bin:/bin");
    command.output().await.expect("the sandbox starts")
}

struct Layout {
    _scratch: tempfile::TempDir,
    base: PathBuf,
    worktree: PathBuf,
    secret: PathBuf,
}

fn layout() -> std::io::Result<Layout> {
    let scratch = tempfile::tempdir()?;
    let base = scratch.path().canonicalize()?;
    let worktree = base.join("worktree");
    std::fs::create_dir_all(worktree.join(".git/hooks"))?;
    std::fs::write(worktree.join(".git/config"), "[core]\n")?;
    std::fs::create_dir_all(base.join("home/.ssh"))?;
    let secret = base.join("home/.ssh/id_ed25519");
    std::fs::write(&secret, "PRIVATE KEY")?;
    Ok(Layout { _scratch: scratch, base, worktree, secret })
}

#[tokio::test]
async fn the_worktree_is_writable_its_git_directory_is_not_and_nothing_else_exists() -> std::io::Result<()> {
    let Some(sandbox) = sandbox() else { return Ok(()) };
    let layout = layout()?;
    let policy = Policy {
        workdir: layout.worktree.clone(),
        writable: vec![layout.worktree.clone()],
        protected: vec![layout.worktree.join(".git")],
        ..Policy::default()
    };
    let script = format!(
        "echo in > inside.txt; \
         echo '[core] fsmonitor = touch /tmp/pwned' >> .git/config; echo hook > .git/hooks/pre-commit; \
         cat {secret}; ls {base}/home; echo out > {base}/outside.txt; \
         echo hostname=$(cat /proc/sys/kernel/hostname); echo processes=$(ls /proc | grep -c '^[0-9]')",
        secret = layout.secret.display(),
        base = layout.base.display(),
    );
    let output = run(&sandbox, &policy, &script).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));

    assert_eq!(std::fs::read_to_string(layout.worktree.join("inside.txt"))?, "in\n", "{stderr}");
    assert_eq!(std::fs::read_to_string(layout.worktree.join(".git/config"))?, "[core]\n", "{stderr}");
    assert!(!layout.worktree.join(".git/hooks/pre-commit").exists());
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    assert!(!layout.base.join("outside.txt").exists());
    assert!(stderr.matches("Read-only file system").count() >= 2, "{stderr}");
    assert!(stdout.contains("hostname=sandbox"), "{stdout}");
    let processes: usize =
        stdout.lines().find_map(|l| l.strip_prefix("processes=")).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    assert!(processes <= 8, "the run sees the machine's processes ({processes}): {stdout}");
    Ok(())
}

#[tokio::test]
async fn no_local_port_is_reachable_except_through_a_bridge() -> std::io::Result<()> {
    let Some(sandbox) = sandbox() else { return Ok(()) };
    let layout = layout()?;
    let service_port = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = service_port.local_addr()?.port();
    let sockets = layout.base.join("sockets");
    std::fs::create_dir_all(&sockets)?;
    let socket = sockets.join("relay.sock");
    let relay = tokio::net::UnixListener::bind(&socket)?;
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = relay.accept().await {
            let _ = conn.write_all(b"from the service\n").await;
        }
    });
    let policy = Policy {
        workdir: layout.worktree.clone(),
        writable: vec![layout.worktree.clone()],
        bridges: vec![Bridge { port: 3129, socket }],
        ..Policy::default()
    };
    let script = format!(
        "(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo service-port-reached; \
         exec 3<>/dev/tcp/127.0.0.1/3129 && head -n1 <&3"
    );
    let output = run(&sandbox, &policy, &script).await;
    let stdout = text(&output.stdout);
    assert!(!stdout.contains("service-port-reached"), "{stdout}");
    assert!(stdout.contains("from the service"), "{stdout} {}", text(&output.stderr));
    Ok(())
}
