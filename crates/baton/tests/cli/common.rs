//! Starts the real `baton` binary on a random loopback port with its own data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const TEST_CONFIG: &str = r#"
[server]
shutdown_grace_seconds = 5

[limits]
messages_per_second = 100000
message_burst = 100000
conversations_per_minute_per_ip = 100000

[[agents]]
email = "nina@example.com"
display_name = "Nina"
"#;

pub fn baton() -> Command {
    Command::new(env!("CARGO_BIN_EXE_baton"))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "baton-cli-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `baton serve`.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Lines the server printed on stdout before it started listening.
    pub console: Vec<String>,
    pub stderr_path: PathBuf,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        Self::start_with(dir, TEST_CONFIG)
    }

    /// Starts with this configuration text.
    pub fn start_with(dir: &Path, config_text: &str) -> Server {
        Self::start_logging(dir, config_text, "info")
    }

    /// Starts with this configuration text and log filter (`BATON_LOG`).
    pub fn start_logging(dir: &Path, config_text: &str, log: &str) -> Server {
        Self::spawn(dir, config_text, log, None)
    }

    /// Starts with this configuration text on the database at `url` (its files, logs and
    /// configuration still in `dir`).
    pub fn start_on_database(dir: &Path, config_text: &str, url: &str) -> Server {
        Self::spawn(dir, config_text, "info", Some(url))
    }

    fn spawn(dir: &Path, config_text: &str, log: &str, database_url: Option<&str>) -> Server {
        let config = dir.join("baton.toml");
        std::fs::write(&config, config_text).expect("write config");
        let stderr_path = dir.join(format!("stderr-{}.log", COUNTER.fetch_add(1, Ordering::SeqCst)));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut command = baton();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config);
        match database_url {
            Some(url) => command.args(["--database-url", url]),
            None => command.arg("--data-dir").arg(dir.join("data")),
        };
        let mut child = command
            .env("BATON_LOG", log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start baton");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut console = Vec::new();
        let base = loop {
            assert!(Instant::now() < deadline, "baton did not start listening: {console:?}");
            let line = lines
                .next()
                .expect("baton exited before listening")
                .expect("read stdout");
            if let Some(address) = line.strip_prefix("Baton listening on ") {
                break address.trim().to_owned();
            }
            console.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            console,
            stderr_path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Starts a conversation (with `body`, or none); returns its id and customer token.
    pub async fn new_conversation(&self, http: &reqwest::Client, body: Option<serde_json::Value>) -> (String, String) {
        let mut request = http.post(self.url("/api/v1/conversations"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let created: serde_json::Value = request.send().await.expect("create").json().await.expect("json");
        (
            created["conversation_id"].as_str().expect("id").to_owned(),
            created["customer_token"].as_str().expect("token").to_owned(),
        )
    }

    /// Logs in as an agent; the session token.
    pub async fn login(&self, http: &reqwest::Client, email: &str, password: &str) -> String {
        let login: serde_json::Value = http
            .post(self.url("/api/v1/agents/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        login["token"].as_str().expect("agent token").to_owned()
    }

    /// Every event of a conversation that `token` may see, oldest first, page after page.
    pub async fn events(&self, http: &reqwest::Client, id: &str, token: &str) -> Vec<serde_json::Value> {
        let mut events: Vec<serde_json::Value> = Vec::new();
        loop {
            let after = events.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
            let page: serde_json::Value = http
                .get(self.url(&format!("/api/v1/conversations/{id}/events?after={after}&limit=1000")))
                .bearer_auth(token)
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            events.extend(page["events"].as_array().expect("events").iter().cloned());
            if page["has_more"] != true {
                return events;
            }
        }
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill_hard(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Says that a test could not check what it is for (its data is absent), so that
/// `scripts/test` counts it as skipped rather than passed.
pub fn skipped(test: &str, reason: &str) {
    baton_store_postgres::testing::skipped_because(test, reason);
}
