//! `baton config` and first-start agent passwords.

use crate::common::{baton, Server, TempDir};
use serde_json::json;

#[test]
fn config_default_prints_the_demo_configuration_and_check_names_bad_entries() {
    let output = baton().args(["config", "default"]).output().expect("run");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(text.contains("[limits]") && text.contains("[[agents]]"));

    let dir = TempDir::new("config");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &text).expect("write");
    let check = baton().args(["config", "check"]).arg(&good).output().expect("run");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmessage_burst = 0\n").expect("write");
    let check = baton().args(["config", "check"]).arg(&bad).output().expect("run");
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("limits.message_burst"),
        "{stderr}"
    );

    // A handoff rule naming an intent the model does not know is refused, by name.
    let unknown = text.replace(
        "human_only_intents = [\"delete_account\"]",
        "human_only_intents = [\"teleport\"]",
    );
    assert_ne!(unknown, text, "the demo has the entry");
    let bad = dir.path().join("handoff.toml");
    std::fs::write(&bad, unknown).expect("write");
    let check = baton().args(["config", "check"]).arg(&bad).output().expect("run");
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("handoff.escalation.human_only_intents") && stderr.contains("teleport"),
        "{stderr}"
    );

    // Routing's bad entries are named too: an unknown skill, a zone that does not exist, a
    // queue nobody listed can serve.
    for (from, to, named) in [
        (
            "skills = [\"orders\", \"shipping\", \"general\"]",
            "skills = [\"orders\", \"shiping\", \"general\"]",
            "shiping",
        ),
        (
            "zone = \"Europe/Madrid\"",
            "zone = \"Europe/Atlantis\"",
            "Europe/Atlantis",
        ),
        (
            "skills = [\"compliance\", \"fraud\", \"billing\", \"refunds\", \"general\"]",
            "skills = [\"billing\", \"refunds\", \"general\"]",
            "queues.trust_and_safety",
        ),
    ] {
        let changed = text.replacen(from, to, 1);
        assert_ne!(changed, text, "the demo has `{from}`");
        let bad = dir.path().join("routing.toml");
        std::fs::write(&bad, changed).expect("write");
        let check = baton().args(["config", "check"]).arg(&bad).output().expect("run");
        assert!(!check.status.success(), "{named}");
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(stderr.contains("routing.") && stderr.contains(named), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_each_agent_password_once_and_never_logs_it() {
    let dir = TempDir::new("agents");
    let server = Server::start(dir.path());
    let line = server
        .console
        .iter()
        .find(|l| l.contains("nina@example.com"))
        .expect("password line")
        .clone();
    let password = line.split_whitespace().last().expect("password").to_owned();
    assert!(password.len() >= 20, "a long random password");
    let http = reqwest::Client::new();
    let login = http
        .post(server.url("/api/v1/agents/login"))
        .json(&json!({"email": "nina@example.com", "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let token = login.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let stderr = server.stderr();
    assert!(!stderr.contains(&password), "the password is not in the log");
    assert!(!stderr.contains(&token), "the token is not in the log");
    server.kill_hard();

    let again = Server::start(dir.path());
    assert!(
        again.console.iter().all(|l| !l.contains("nina@example.com")),
        "not shown a second time"
    );
}
