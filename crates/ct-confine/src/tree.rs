//! Finding and killing every process that belongs to one run.
//!
//! A run's leader (the agent CLI, a test command) leads its own process group, but the agent's
//! Bash tool starts each command in a new session, and a test may daemonise, so a group kill
//! misses them. A run's processes are therefore: the leader's group, every descendant of the
//! leader (found through `/proc/<pid>/stat` while the tree is still intact), and every process
//! carrying the run's marker variable (which also finds orphans already re-parented to init).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// The environment variable that marks every process of one run; its value is unique per run.
pub const RUN_MARKER_VAR: &str = "CT_RUN";

#[derive(Debug, Clone, Copy)]
struct ProcStat {
    ppid: i32,
    pgid: i32,
    zombie: bool,
}

/// Parses the fields we need from `/proc/<pid>/stat`. The command name may contain spaces and
/// parentheses, so the fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<ProcStat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some(ProcStat { ppid, pgid, zombie: state == "Z" || state == "X" })
}

fn process_table() -> BTreeMap<i32, ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parse_stat(&stat)?))
        })
        .collect()
}

fn has_marker(pid: i32, entry: &[u8]) -> bool {
    fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| environ.split(|b| *b == 0).any(|var| var == entry))
}

fn is_descendant(mut pid: i32, ancestor: i32, table: &BTreeMap<i32, ProcStat>) -> bool {
    // Bounded walk: the table is a snapshot and could in theory contain a cycle of reused pids.
    for _ in 0..table.len() {
        match table.get(&pid) {
            Some(stat) if stat.ppid == ancestor => return true,
            Some(stat) if stat.ppid > 1 => pid = stat.ppid,
            _ => return false,
        }
    }
    false
}

/// The live (non-zombie) processes of the run led by `leader` and marked with `marker`.
fn run_processes(leader: Pid, marker: &str) -> BTreeSet<i32> {
    let entry = format!("{RUN_MARKER_VAR}={marker}").into_bytes();
    let table = process_table();
    let me = std::process::id() as i32;
    table
        .iter()
        .filter(|(pid, stat)| **pid != me && !stat.zombie)
        .filter(|(pid, stat)| {
            stat.pgid == leader.as_raw()
                || **pid == leader.as_raw()
                || is_descendant(**pid, leader.as_raw(), &table)
                || has_marker(**pid, &entry)
        })
        .map(|(pid, _)| *pid)
        .collect()
}

/// Kills every process of the run and returns how many there were. Processes are stopped
/// first, round after round, so none can fork or be re-parented between the look-up and the
/// kill; then all get SIGKILL.
fn kill_run(leader: Pid, marker: &str) -> usize {
    let mut stopped = BTreeSet::new();
    // Each round can only find children forked before their parent stopped; a few rounds reach
    // a fixed point, the bound only guards against a pathological fork storm.
    for _ in 0..16 {
        let fresh: Vec<i32> = run_processes(leader, marker).into_iter().filter(|pid| !stopped.contains(pid)).collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
            stopped.insert(pid);
        }
    }
    match killpg(leader, Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => {
            tracing::warn!(pgid = leader.as_raw(), %err, "cannot kill the run's process group")
        }
    }
    for pid in &stopped {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    stopped.len()
}

/// Kills the run's processes when dropped, unless [`RunGuard::kill`] already did. Covers every
/// way a run can end early: the client going away, the service shutting down, a panic.
#[derive(Debug)]
pub struct RunGuard {
    leader: Pid,
    marker: String,
    armed: bool,
}

impl RunGuard {
    pub fn new(leader: Pid, marker: String) -> RunGuard {
        RunGuard { leader, marker, armed: true }
    }

    /// Kills everything left of the run now and returns how many processes that was.
    pub fn kill(&mut self) -> usize {
        self.armed = false;
        kill_run(self.leader, &self.marker)
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.armed {
            let killed = kill_run(self.leader, &self.marker);
            tracing::info!(pgid = self.leader.as_raw(), killed, "killed the run's processes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names_parses() {
        let stat = parse_stat("4242 (my (odd) cmd) S 17 4242 4242 0 -1 4194560 ...").unwrap();
        assert_eq!((stat.ppid, stat.pgid, stat.zombie), (17, 4242, false));
        assert!(parse_stat("7 (x) Z 1 7 7").unwrap().zombie);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn descendants_are_found_through_the_parent_chain() {
        let stat = |ppid| ProcStat { ppid, pgid: 0, zombie: false };
        let table = BTreeMap::from([(10, stat(1)), (11, stat(10)), (12, stat(11)), (20, stat(1))]);
        assert!(is_descendant(12, 10, &table));
        assert!(is_descendant(11, 10, &table));
        assert!(!is_descendant(20, 10, &table));
        assert!(!is_descendant(10, 10, &table));
    }
}
