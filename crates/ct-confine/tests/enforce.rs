//! Landlock alone (what a machine without bubblewrap gets), as the kernel enforces it on real
//! processes. Each test skips itself (saying so) on a kernel without Landlock, where there is
//! nothing to enforce.

use std::path::Path;
use std::process::Output;

use ct_confine::{Confinement, Mode, Policy, ResourceLimits, Sandbox};

fn sandbox() -> Option<Sandbox> {
    let sandbox = Sandbox::new(Mode::Auto, true).ok()?.without_namespaces();
    if sandbox.confinement().landlock.is_none() {
        ct_confine::skip::skip_test("this kernel has no Landlock ABI 4+; nothing to enforce");
        return None;
    }
    Some(sandbox)
}

async fn confined_sh(sandbox: &Sandbox, policy: &Policy, script: &str, cwd: &Path) -> Output {
    let prepared = sandbox.prepare(policy).expect("the policy builds");
    let mut command = prepared.command(Path::new("/bin/sh"));
    command.args(["-c", script]).current_dir(cwd);
    command.output().await.expect("sh runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn writes_land_only_in_the_writable_paths_and_hidden_ones_cannot_be_read() -> std::io::Result<()> {
    let Some(sandbox) = sandbox() else { return Ok(()) };
    let scratch = tempfile::tempdir()?;
    let base = scratch.path().canonicalize()?;
    let worktree = base.join("worktree");
    let state = base.join("state");
    std::fs::create_dir_all(&worktree)?;
    std::fs::create_dir_all(state.join("run-other"))?;
    std::fs::write(state.join("control.token"), "t0ken")?;
    std::os::unix::fs::symlink(&base, worktree.join("out"))?;
    let policy = Policy { writable: vec![worktree.clone()], hidden: vec![state.clone()], ..Policy::default() };
    let script = format!(
        "echo in > inside.txt; echo out > {base}/outside.txt; echo up > ../up.txt; \
         echo link > out/via-link.txt; cat {state}/control.token; ls {state}/run-other; \
         head -c1 /etc/hostname >/dev/null && echo etc-readable",
        base = base.display(),
        state = state.display(),
    );
    let output = confined_sh(&sandbox, &policy, &script, &worktree).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));

    assert_eq!(std::fs::read_to_string(worktree.join("inside.txt"))?, "in\n");
    for refused in ["outside.txt", "up.txt", "via-link.txt"] {
        assert!(!base.join(refused).exists(), "{refused} was written; stderr: {stderr}");
    }
    assert!(!stdout.contains("t0ken"), "{stdout}");
    assert!(stderr.matches("Permission denied").count() >= 5, "{stderr}");
    assert!(stdout.contains("etc-readable"), "the rest of the system stays readable: {stderr}");
    Ok(())
}

#[tokio::test]
async fn the_service_environment_and_memory_cannot_be_read_through_proc() -> std::io::Result<()> {
    let Some(sandbox) = sandbox() else { return Ok(()) };
    let path_before = std::env::var("PATH").expect("the test has a PATH");
    ct_confine::protect_service();
    assert_eq!(std::env::var("PATH").ok(), Some(path_before), "the service still sees its environment");
    let scratch = tempfile::tempdir()?;
    let me = std::process::id();
    let script = format!(
        "tr '\\0' '\\n' < /proc/{me}/environ; \
         dd if=/proc/{me}/mem bs=1 count=1 skip=$((0x$(grep -m1 heap /proc/{me}/maps | cut -d- -f1))) 2>&1 >/dev/null \
           | grep -q 'Permission denied' && echo mem-refused; \
         grep -q PATH= /proc/self/environ && echo own-ok"
    );
    let policy = Policy { writable: vec![scratch.path().to_path_buf()], ..Policy::default() };
    let output = confined_sh(&sandbox, &policy, &script, scratch.path()).await;
    let stdout = text(&output.stdout);
    assert!(stdout.contains("own-ok"), "{stdout} {}", text(&output.stderr));
    assert!(!stdout.contains("PATH="), "the service's environ was readable: {stdout}");
    assert!(stdout.contains("mem-refused"), "the service's memory was readable: {stdout}");
    Ok(())
}

#[tokio::test]
async fn only_the_allowed_ports_can_be_reached() -> std::io::Result<()> {
    let Some(sandbox) = sandbox() else { return Ok(()) };
    let allowed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let refused = std::net::TcpListener::bind("127.0.0.1:0")?;
    let (a, r) = (allowed.local_addr()?.port(), refused.local_addr()?.port());
    let scratch = tempfile::tempdir()?;
    let policy =
        Policy { writable: vec![scratch.path().to_path_buf()], connect_ports: Some(vec![a]), ..Policy::default() };
    // bash's /dev/tcp makes a plain connect(2).
    let script = format!(
        "(exec 3<>/dev/tcp/127.0.0.1/{a}) 2>/dev/null && echo allowed-ok; \
         (exec 3<>/dev/tcp/127.0.0.1/{r}) 2>/dev/null && echo refused-reached; true"
    );
    let prepared = sandbox.prepare(&policy).expect("the policy builds");
    let mut command = prepared.command(Path::new("bash"));
    command.args(["-c", &script]).current_dir(scratch.path());
    let output = command.output().await?;
    let stdout = text(&output.stdout);
    assert!(stdout.contains("allowed-ok"), "{stdout} {}", text(&output.stderr));
    assert!(!stdout.contains("refused-reached"), "{stdout}");
    Ok(())
}

#[tokio::test]
async fn limits_and_no_new_privs_hold_even_unconfined() -> std::io::Result<()> {
    let sandbox = Sandbox::new(Mode::Off, false).expect("off always works");
    assert_eq!(sandbox.confinement(), Confinement::NONE);
    let scratch = tempfile::tempdir()?;
    let policy = Policy {
        limits: ResourceLimits { file_size_bytes: Some(4096), open_files: Some(64), ..ResourceLimits::default() },
        ..Policy::default()
    };
    let output = confined_sh(
        &sandbox,
        &policy,
        "ulimit -n; grep NoNewPrivs /proc/self/status; head -c 100000 /dev/zero > big; true",
        scratch.path(),
    )
    .await;
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("64\n"), "{stdout}");
    assert!(stdout.contains("NoNewPrivs:\t1"), "{stdout}");
    assert_eq!(std::fs::metadata(scratch.path().join("big"))?.len(), 4096);
    Ok(())
}
