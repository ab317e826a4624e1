//! Where a backend's commands run: on this host, or on a remote one (a cluster's login
//! node, an owned GPU box) through the system's `ssh`, so that users' `~/.ssh/config`,
//! ProxyJump, agents and ControlMaster sockets work as they do in their shell.
//!
//! Every failure to run a command at all (no route, refused key, unknown host key) is an
//! error that names the place; a command that ran and failed is an [`Output`] to judge.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

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

/// How to reach a host over SSH. Unset fields are left to ssh and the user's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshTarget {
    /// The name errors use (the config's host name, e.g. `narval`).
    pub name: String,
    /// What ssh connects to: an address, `user@host` or a `~/.ssh/config` alias.
    pub destination: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
    /// `ProxyJump` (a bastion, as some clusters need from outside their network).
    pub jump: Option<String>,
    /// `ssh -F`: a config file instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// Share one connection between commands (ControlMaster), with its socket here: a
    /// poll costs a round trip instead of a login.
    pub control_dir: Option<PathBuf>,
    /// Pin the host key under this name instead of the address (a rented instance's lease
    /// name: a new machine that reuses an old one's address is not mistaken for it).
    pub host_key_alias: Option<String>,
    /// Accept a host key never seen before, and remember it (a freshly rented machine,
    /// whose key nobody can know in advance); a changed key is still refused.
    pub accept_new_host_key: bool,
}

impl SshTarget {
    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![];
        if let Some(f) = &self.config_file {
            a.extend(["-F".into(), f.display().to_string()]);
        }
        // Never prompt: a missing key or an unknown host key is an error, not a hung job.
        a.extend(["-o".into(), "BatchMode=yes".into()]);
        a.extend(["-o".into(), format!("ConnectTimeout={CONNECT_TIMEOUT_S}")]);
        // Dead connections are noticed within a minute instead of hanging a poll.
        a.extend(["-o".into(), "ServerAliveInterval=15".into()]);
        a.extend(["-o".into(), "ServerAliveCountMax=3".into()]);
        if let Some(p) = self.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        if let Some(u) = &self.user {
            a.extend(["-l".into(), u.clone()]);
        }
        if let Some(k) = &self.identity_file {
            a.extend(["-i".into(), k.display().to_string()]);
            a.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
        }
        if let Some(k) = &self.known_hosts_file {
            a.extend(["-o".into(), format!("UserKnownHostsFile={}", k.display())]);
        }
        if let Some(alias) = &self.host_key_alias {
            a.extend(["-o".into(), format!("HostKeyAlias={alias}")]);
        }
        if self.accept_new_host_key {
            a.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into()]);
        }
        if let Some(j) = &self.jump {
            a.extend(["-J".into(), j.clone()]);
        }
        if let Some(d) = &self.control_dir {
            a.extend(["-o".into(), "ControlMaster=auto".into()]);
            a.extend(["-o".into(), format!("ControlPath={}/%C", d.display())]);
            a.extend(["-o".into(), "ControlPersist=120".into()]);
        }
        a
    }
}

const CONNECT_TIMEOUT_S: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Local,
    Ssh(Box<SshTarget>),
}

impl Transport {
    /// Where commands run, for error messages (`localhost`, `narval`).
    pub fn place(&self) -> &str {
        match self {
            Transport::Local => "localhost",
            Transport::Ssh(t) => &t.name,
        }
    }

    /// Runs a bash command line, feeding it `stdin`, and waits for it at most `limit`.
    /// A failure to run at all (no ssh, host unreachable, key refused) is an `Err` naming
    /// the host and saying which.
    pub async fn run_for(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: Duration,
    ) -> Result<Output, String> {
        let mut cmd = match self {
            Transport::Local => {
                let mut c = Command::new("bash");
                c.arg("-c").arg(command);
                c
            }
            Transport::Ssh(t) => {
                let mut c = Command::new("ssh");
                c.args(t.args());
                // The remote login shell may be anything; bash runs what Ferry writes.
                c.arg(&t.destination)
                    .arg("--")
                    .arg(format!("bash -c {}", sh_quote(command)));
                c
            }
        };
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: cannot run a command: {e}", self.place()))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(input)
                .await
                .map_err(|e| format!("{}: writing to the command: {e}", self.place()))?;
            drop(pipe);
        }
        let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| format!("{}: {e}", self.place()))?,
            Err(_) => {
                return Err(format!(
                    "{}: no answer within {} s",
                    self.place(),
                    limit.as_secs()
                ));
            }
        };
        let result = Output {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        // ssh exits 255 when it could not connect or authenticate.
        if matches!(self, Transport::Ssh(_)) && result.status == Some(255) {
            return Err(format!(
                "{}: {}",
                self.place(),
                ssh_failure(result.stderr.trim())
            ));
        }
        Ok(result)
    }

    /// [`Transport::run_for`] with a limit that suits a quick query (two minutes).
    pub async fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, String> {
        self.run_for(command, stdin, Duration::from_secs(120)).await
    }
}

/// ssh's own complaint, led by what it means for the user.
fn ssh_failure(stderr: &str) -> String {
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("ssh exited 255 without a message");
    let what = if stderr.contains("Permission denied") {
        "the host refused the key (check the user and identity_file, or ssh-add the key)"
    } else if stderr.contains("Host key verification failed")
        || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        "the host key is unknown or changed (connect once with ssh to accept it, or set known_hosts_file)"
    } else if stderr.contains("Could not resolve hostname") {
        "unknown host name"
    } else if stderr.contains("Connection refused")
        || stderr.contains("timed out")
        || stderr.contains("No route to host")
        || stderr.contains("Network is unreachable")
    {
        "unreachable"
    } else {
        "ssh could not run the command"
    };
    format!("{what}: {last}")
}

/// Quotes a word for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_commands_and_stdin() {
        let out = Transport::Local
            .run("cat; echo err >&2; exit 3", Some(b"hello"))
            .await
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_str(), out.stderr.trim()),
            (Some(3), "hello", "err")
        );
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[tokio::test]
    async fn a_slow_command_is_cut_off() {
        let e = Transport::Local
            .run_for("sleep 5", None, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(e, "localhost: no answer within 0 s");
    }

    #[tokio::test]
    async fn an_unknown_host_names_the_host() {
        let t = Transport::Ssh(Box::new(SshTarget {
            name: "lab-box".into(),
            destination: "ferry-no-such-host.invalid".into(),
            config_file: Some("/dev/null".into()),
            ..SshTarget::default()
        }));
        match t.run("true", None).await {
            Err(e) => assert!(e.starts_with("lab-box: unknown host name"), "{e}"),
            Ok(o) => panic!("ssh unexpectedly ran: {o:?}"),
        }
    }

    #[test]
    fn ssh_arguments_follow_the_target() {
        let t = SshTarget {
            name: "n".into(),
            destination: "h".into(),
            port: Some(2222),
            user: Some("me".into()),
            identity_file: Some("/k".into()),
            jump: Some("bastion".into()),
            ..SshTarget::default()
        };
        let a = t.args().join(" ");
        assert!(
            a.contains("-p 2222")
                && a.contains("-l me")
                && a.contains("-i /k -o IdentitiesOnly=yes")
                && a.contains("-J bastion"),
            "{a}"
        );
        assert!(a.contains("BatchMode=yes"), "{a}");
    }

    #[test]
    fn ssh_failures_say_what_they_mean() {
        assert!(
            ssh_failure("root@127.0.0.1: Permission denied (publickey).")
                .starts_with("the host refused the key")
        );
        assert!(
            ssh_failure("ssh: connect to host 127.0.0.1 port 1: Connection refused")
                .starts_with("unreachable: ssh: connect")
        );
    }
}
