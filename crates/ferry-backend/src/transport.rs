//! Where a backend's commands run: on this host, or on a remote one (a cluster's login
//! node, an owned GPU box) through the system's `ssh`, so users' `~/.ssh/config`,
//! ProxyJump and agents work as they do in their shell.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Local,
    /// `ssh [-F config] host -- command`.
    Ssh {
        host: String,
        config: Option<String>,
    },
}

impl Transport {
    /// Where commands run, for error messages (`localhost`, `narval`).
    pub fn place(&self) -> &str {
        match self {
            Transport::Local => "localhost",
            Transport::Ssh { host, .. } => host,
        }
    }

    /// Runs a shell command line, feeding `stdin`. A failure to run at all (no ssh, host
    /// unreachable, key refused) is an `Err` naming the host.
    pub fn run(&self, command: &str, stdin: Option<&str>) -> Result<Output, String> {
        let mut cmd = match self {
            Transport::Local => {
                let mut c = Command::new("bash");
                c.arg("-c").arg(command);
                c
            }
            Transport::Ssh { host, config } => {
                let mut c = Command::new("ssh");
                if let Some(f) = config {
                    c.arg("-F").arg(f);
                }
                // Never prompt: a missing key is an error, not a hung job.
                c.args([
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=10",
                    host,
                    "--",
                    command,
                ]);
                c
            }
        };
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: cannot run a command: {e}", self.place()))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(input.as_bytes())
                .map_err(|e| format!("{}: writing to the command: {e}", self.place()))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", self.place()))?;
        let result = Output {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        // ssh exits 255 when it could not connect or authenticate.
        if matches!(self, Transport::Ssh { .. }) && result.status == Some(255) {
            return Err(format!(
                "{}: ssh failed: {}",
                self.place(),
                result.stderr.trim()
            ));
        }
        Ok(result)
    }
}

/// Quotes a word for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_commands_and_stdin() {
        let out = Transport::Local
            .run("cat; echo err >&2; exit 3", Some("hello"))
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_str(), out.stderr.trim()),
            (Some(3), "hello", "err")
        );
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn an_unreachable_host_names_the_host() {
        let t = Transport::Ssh {
            host: "ferry-no-such-host.invalid".into(),
            config: Some("/dev/null".into()),
        };
        match t.run("true", None) {
            Err(e) => assert!(e.starts_with("ferry-no-such-host.invalid:"), "{e}"),
            Ok(o) => panic!("ssh unexpectedly ran: {o:?}"),
        }
    }
}
