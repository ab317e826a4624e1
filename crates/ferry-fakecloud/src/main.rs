//! `ferry-fakecloud`: the fake providers as a process of their own, so that a Ferry server
//! can be killed and restarted while the fake keeps its instances and its billing record.

use anyhow::Context;
use clap::Parser;
use ferry_fakecloud::{SshTarget, World};
use std::path::PathBuf;

/// Serves fake RunPod, Lambda, Vast.ai and Paperspace APIs on 127.0.0.1 whose instances
/// are one real SSH endpoint.
#[derive(Parser)]
struct Args {
    /// Port to listen on (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The key every provider route expects.
    #[arg(long, default_value = "fake-key")]
    api_key: String,
    /// Where instances are reached: HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:2222")]
    ssh: String,
    /// The login user the instances report.
    #[arg(long, default_value = "root")]
    ssh_user: String,
    /// The sshd's authorized_keys, where handed-over public keys are appended.
    #[arg(long)]
    authorized_keys: Option<PathBuf>,
    /// Milliseconds an instance provisions before it runs.
    #[arg(long, default_value_t = 300)]
    provisioning_ms: i64,
    /// Writes the base URL here once listening.
    #[arg(long)]
    url_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let (host, port) = a.ssh.rsplit_once(':').context("--ssh must be HOST:PORT")?;
    let mut world = World::new(
        &a.api_key,
        SshTarget {
            host: host.to_string(),
            port: port.parse().context("--ssh port")?,
            user: a.ssh_user,
        },
    );
    world.authorized_keys = a.authorized_keys;
    world.provisioning_ms = a.provisioning_ms;
    let (url, _) = ferry_fakecloud::serve(world, a.port).await?;
    if let Some(f) = &a.url_file {
        let tmp = f.with_extension("tmp");
        std::fs::write(&tmp, &url)?;
        std::fs::rename(&tmp, f)?;
    }
    println!("ferry-fakecloud listening on {url}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
