//! The CLI as a client of the Ferry server. On one machine the server is started on
//! demand (detached, with a pid file and a log) and reused; one code path for one user and
//! for a team.

use anyhow::{Context as _, Result, anyhow, bail};
use ferry_server::{ServerInfo, read_info};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    pub info: ServerInfo,
}

impl Client {
    /// Connects to the running server, starting one if none answers.
    pub fn connect_or_start(data_dir: &Path) -> Result<Client> {
        if let Some(c) = Self::connect(data_dir)? {
            return Ok(c);
        }
        start_detached(data_dir)?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(c) = Self::connect(data_dir)? {
                return Ok(c);
            }
            if Instant::now() > deadline {
                bail!(
                    "the Ferry server did not come up within 15 s; its log is {}",
                    data_dir.join("server.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Connects to a running server, if one answers.
    pub fn connect(data_dir: &Path) -> Result<Option<Client>> {
        let Some(info) = read_info(data_dir) else {
            return Ok(None);
        };
        let Ok(token) = std::fs::read_to_string(data_dir.join("server.token")) else {
            return Ok(None);
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let c = Client {
            base: format!("http://{}", info.addr),
            token: token.trim().into(),
            http,
            rt,
            info,
        };
        match c.get::<serde_json::Value>("/v1/health") {
            Ok(_) => Ok(Some(c)),
            Err(_) => Ok(None),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        self.send(req)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body);
        self.send(req)
    }

    fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        self.rt.block_on(async {
            let resp = req.send().await.context("talking to the Ferry server")?;
            let status = resp.status();
            let bytes = resp.bytes().await?;
            if !status.is_success() {
                let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                return Err(anyhow!("{msg}"));
            }
            serde_json::from_slice(&bytes).context("reading the server's answer")
        })
    }
}

/// Starts `ferry server run` in its own session, logging to `server.log`.
fn start_detached(data_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("server.log"))?;
    let exe: PathBuf = std::env::current_exe().context("finding the ferry binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["server", "run"])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // The server must not die with this terminal.
    ferry_backend::detach(&mut cmd);
    let mut child = cmd.spawn().context("starting the Ferry server")?;
    std::thread::spawn(move || child.wait());
    Ok(())
}
