//! Snapshot and restore on a generated repository of 10,000 files / 100 MB with 1,000 changed
//! files, against `git stash push -u` + `git stash pop` on the same repository.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use ct_e2e::git;

pub(crate) const FILES: usize = 10_000;
pub(crate) const FILE_BYTES: usize = 10 * 1024;
pub(crate) const CHANGED: usize = 1_000;

/// Milliseconds of each operation, one round.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Round {
    pub(crate) snapshot_ms: f64,
    pub(crate) restore_ms: f64,
    pub(crate) stash_push_ms: f64,
    pub(crate) stash_pop_ms: f64,
}

/// Bytes that do not compress, as source trees' objects mostly do not either once packed.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'a' + (state % 26) as u8
        })
        .collect()
}

/// A committed repository of [`FILES`] files in 100 directories.
pub(crate) fn generate() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("ct-bench-repo-").tempdir()?;
    for i in 0..FILES {
        let sub = dir.path().join(format!("d{:02}", i % 100));
        std::fs::create_dir_all(&sub)?;
        std::fs::write(sub.join(format!("f{i:05}.txt")), content(i as u64, FILE_BYTES))?;
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "generated"]);
    Ok(dir)
}

fn change(repo: &Path, round: u64) -> anyhow::Result<()> {
    for i in 0..CHANGED {
        let file = repo.join(format!("d{:02}", i % 100)).join(format!("f{i:05}.txt"));
        std::fs::write(file, content(round * 1_000_000 + i as u64, FILE_BYTES))?;
    }
    Ok(())
}

/// One round: change the files, snapshot, put them back as HEAD has them, restore the
/// snapshot; then change them again and do the same with `git stash`.
pub(crate) fn round(repo: &Path, number: u32) -> anyhow::Result<Round> {
    let mut round = Round::default();
    change(repo, u64::from(number) * 2)?;
    let began = Instant::now();
    let snapshot = ct_git::snapshot(repo, "bench", number, "bench")?;
    round.snapshot_ms = began.elapsed().as_secs_f64() * 1000.0;
    git(repo, &["checkout", "-q", "--", "."]);
    let began = Instant::now();
    let restored = ct_git::restore(repo, &snapshot.reference)?;
    round.restore_ms = began.elapsed().as_secs_f64() * 1000.0;
    if restored.written.len() != CHANGED {
        bail!("the restore wrote {} files, not {CHANGED}", restored.written.len());
    }
    git(repo, &["checkout", "-q", "--", "."]);

    change(repo, u64::from(number) * 2 + 1)?;
    let began = Instant::now();
    git(repo, &["stash", "push", "-u", "-q"]);
    round.stash_push_ms = began.elapsed().as_secs_f64() * 1000.0;
    let began = Instant::now();
    git(repo, &["stash", "pop", "-q"]);
    round.stash_pop_ms = began.elapsed().as_secs_f64() * 1000.0;
    git(repo, &["checkout", "-q", "--", "."]);
    Ok(round)
}
