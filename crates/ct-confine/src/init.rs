//! The first program inside a run's namespaces (`ct-sandbox`): it opens the bridges (loopback
//! ports that lead to the service's sockets), starts the run's program under a Landlock domain
//! (writes only where the policy says, no signals or abstract sockets beyond the run), carries
//! the bridges' traffic while the program runs, and exits as the program did.
//!
//! Landlock cannot be set up before bubblewrap (a Landlock domain may not mount), so it is set
//! here, after the mounts, in the child only: the bridges stay outside the run's domain, where
//! the run cannot signal or trace them.
//!
//! `ct-sandbox [--landlock] [--write PATH]... [--bridge PORT=SOCKET]... -- PROGRAM [ARG]...`
//! `ct-sandbox --check` (prints `ok`; the services' start-up probe)

use std::ffi::OsString;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::policy::{Bridge, Policy, ruleset};

#[derive(Debug, Default)]
struct Args {
    check: bool,
    landlock: bool,
    writable: Vec<PathBuf>,
    bridges: Vec<Bridge>,
    program: Vec<OsString>,
}

fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Args, String> {
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.to_str() {
            Some("--check") => parsed.check = true,
            Some("--landlock") => parsed.landlock = true,
            Some("--write") => parsed.writable.push(PathBuf::from(value("--write")?)),
            Some("--bridge") => {
                let spec = value("--bridge")?;
                let spec = spec.to_str().ok_or("--bridge takes PORT=SOCKET in UTF-8")?;
                let (port, socket) = spec.split_once('=').ok_or("--bridge takes PORT=SOCKET")?;
                let port = port.parse().map_err(|_| format!("--bridge: `{port}` is not a port"))?;
                parsed.bridges.push(Bridge { port, socket: PathBuf::from(socket) });
            }
            Some("--") => {
                parsed.program = args.collect();
                break;
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if !parsed.check && parsed.program.is_empty() {
        return Err("no program given after --".to_owned());
    }
    Ok(parsed)
}

/// The whole of `ct-sandbox`.
pub fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(err) => return fail(&format!("ct-sandbox: {err}")),
    };
    if args.check {
        println!("ok");
        return ExitCode::SUCCESS;
    }
    let mut listeners = Vec::new();
    for bridge in &args.bridges {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, bridge.port)) {
            Ok(listener) => listeners.push((listener, bridge.socket.clone())),
            Err(err) => return fail(&format!("ct-sandbox: cannot listen on 127.0.0.1:{}: {err}", bridge.port)),
        }
    }
    let mut command = std::process::Command::new(&args.program[0]);
    command.args(&args.program[1..]);
    if args.landlock {
        let policy = Policy { writable: args.writable.clone(), ..Policy::default() };
        let mut ruleset = match ruleset(&policy) {
            Ok(ruleset) => Some(ruleset),
            Err(err) => return fail(&format!("ct-sandbox: {err}")),
        };
        #[allow(unsafe_code)]
        // SAFETY: runs in the forked child before exec; landlock_restrict_self (and the prctl
        // for no_new_privs it makes first) are plain syscalls on a ruleset built before the fork.
        unsafe {
            command.pre_exec(move || match ruleset.take() {
                Some(ruleset) => ruleset.restrict_self().map(drop).map_err(|_| std::io::Error::last_os_error()),
                None => Ok(()),
            });
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => return fail(&format!("ct-sandbox: cannot start {:?}: {err}", args.program[0])),
    };
    for (listener, socket) in listeners {
        std::thread::spawn(move || carry(&listener, &socket));
    }
    match child.wait() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            (None, Some(signal)) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(1)),
            (None, None) => ExitCode::FAILURE,
        },
        Err(err) => fail(&format!("ct-sandbox: cannot wait for the program: {err}")),
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::from(125)
}

/// Carries every connection to `listener` to a new connection to `socket`, both ways.
fn carry(listener: &TcpListener, socket: &std::path::Path) {
    for inbound in listener.incoming().flatten() {
        let Ok(outbound) = UnixStream::connect(socket) else {
            // The service is gone or refused: the run sees a closed connection.
            continue;
        };
        let (Ok(inbound_read), Ok(outbound_read)) = (inbound.try_clone(), outbound.try_clone()) else {
            continue;
        };
        std::thread::spawn(move || {
            pipe(inbound_read, outbound, |s: &UnixStream| s.shutdown(std::net::Shutdown::Write))
        });
        std::thread::spawn(move || pipe(outbound_read, inbound, |s: &TcpStream| s.shutdown(std::net::Shutdown::Write)));
    }
}

fn pipe<R: std::io::Read, W: std::io::Write>(mut from: R, mut to: W, close: impl Fn(&W) -> std::io::Result<()>) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = close(&to);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(OsString::from))
    }

    #[test]
    fn arguments_name_writes_bridges_and_the_program() {
        let parsed =
            args(&["--landlock", "--write", "/w", "--bridge", "3128=/s/proxy.sock", "--", "claude", "-p", "--"])
                .unwrap();
        assert!(parsed.landlock);
        assert_eq!(parsed.writable, [PathBuf::from("/w")]);
        assert_eq!(parsed.bridges, [Bridge { port: 3128, socket: "/s/proxy.sock".into() }]);
        assert_eq!(parsed.program, ["claude", "-p", "--"]);
        assert!(args(&["--write"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--bridge", "x=/s"]).unwrap_err().contains("not a port"));
        assert!(args(&["--landlock"]).unwrap_err().contains("no program"));
        assert!(args(&["--check"]).unwrap().check);
    }
}
