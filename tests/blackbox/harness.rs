//! Starting, stopping and killing real node processes, and waiting on conditions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use regfed::local::{self, LocalNode, LocalSpec};
use regfed_pki::Tier;
use regfed_sample::Department;

pub const REGION: &str = "420100";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_regfed")
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A node process and everything needed to talk to it.
pub struct NodeProcess {
    pub node: LocalNode,
    pub child: Option<Child>,
    pub log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl NodeProcess {
    /// Prepares a city node with `n` departments in a new temporary directory and starts it.
    pub async fn start_city(n: usize) -> NodeProcess {
        Self::start_city_with(n, "", |_| {}).await
    }

    /// Like [`start_city`](Self::start_city), with `extra` TOML appended to the node's
    /// configuration and `before` run on the prepared directory before the node starts.
    pub async fn start_city_with(n: usize, extra: &str, before: impl FnOnce(&Path)) -> NodeProcess {
        install_crypto();
        let dir = tempfile::tempdir().expect("temp dir");
        let depts = regfed_sample::departments(REGION, n);
        let node = prepare(dir.path(), &depts, extra);
        before(node.config_path.parent().expect("node dir"));
        let mut p = NodeProcess {
            node,
            child: None,
            log: dir.path().join("node.log"),
            _dir: Some(dir),
        };
        p.start().await;
        p
    }

    /// A prepared node (of a federation, say), started with its log in `log`, not waited
    /// for: the members of a group serve only once a quorum of them runs.
    pub fn spawn_prepared(node: LocalNode, log: PathBuf) -> NodeProcess {
        install_crypto();
        let mut p = NodeProcess {
            node,
            child: None,
            log,
            _dir: None,
        };
        p.spawn();
        p
    }

    /// Stops the process with SIGSTOP (`true`) or resumes it with SIGCONT (`false`).
    pub fn pause(&self, stop: bool) {
        if let Some(child) = &self.child {
            let signal = if stop { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }

    pub fn departments(&self) -> Vec<Department> {
        self.node
            .departments
            .iter()
            .map(|(d, _)| d.clone())
            .collect()
    }

    pub fn identity(&self, department: usize) -> &Path {
        &self.node.departments[department].1
    }

    pub fn addr(&self) -> String {
        self.node.addr.to_string()
    }

    /// Starts (or restarts) the process and waits until it serves.
    pub async fn start(&mut self) {
        self.spawn();
        self.wait_ready().await;
    }

    /// Waits until the node (or its group's leader, for a member of a group) serves.
    pub async fn wait_ready(&self) {
        if let Err(e) = local::wait_ready(&self.node, Duration::from_secs(30)).await {
            panic!("{e}\n--- node log ---\n{}", self.log_text());
        }
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&self.node.config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start regfed serve");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        wait_exit(&mut child, Duration::from_secs(30)).expect("node exits after SIGTERM")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn client(&self, identity: &Path) -> regfed::client::Client {
        regfed::client::connect(&[self.addr()], identity)
            .await
            .expect("connect")
    }

    /// Runs a CLI client command against this node as `identity`; returns (status, stdout, stderr).
    pub fn cli(&self, identity: &Path, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(bin());
        cmd.arg(args[0])
            .args(["--node", &self.addr(), "--identity"])
            .arg(identity)
            .args(&args[1..]);
        let out = cmd.output().expect("run regfed");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn prepare(dir: &Path, depts: &[Department], extra: &str) -> LocalNode {
    local::prepare(
        dir,
        &LocalSpec {
            id: "city-1",
            tier: Tier::City,
            region: REGION,
            departments: depts,
            listen: local::free_port().expect("port"),
            http: Some(local::free_port().expect("port")),
            handshake_timeout_secs: Some(2),
            extra_config: extra,
        },
    )
    .expect("prepare node")
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` until it returns `Ok`, or panics after `timeout` with the last state seen.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out waiting for {what}; last state: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

pub fn today() -> chrono::NaiveDate {
    regfed::state::china_day(regfed::node::now_millis())
}
