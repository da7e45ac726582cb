//! Baton's TOML configuration: what it contains, its bundled demo default, and the checks
//! that turn a file into a [`Config`] or an error naming the bad entry. Reading the file and
//! applying command-line overrides belong to the binary.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The demo configuration compiled into the binary: the server part, then the demo shop's
/// NLU section (intents with examples in English and Spanish).
pub const DEMO_CONFIG: &str = concat!(
    include_str!("../config/demo.toml"),
    "\n",
    include_str!("../../baton-nlu/demo/nlu.toml"),
    "\n",
    include_str!("../../baton-dialogue/demo/dialogue.toml"),
    "\n",
    include_str!("../../baton-handoff/demo/handoff.toml"),
    "\n",
    include_str!("../../baton-routing/demo/routing.toml")
);

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration {source_name} is not valid: {message}")]
    Invalid { source_name: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub shop: Shop,
    #[serde(default)]
    pub agents: Vec<AgentSeed>,
    /// Understanding customer messages; `baton serve` trains the models from it at start.
    #[serde(default)]
    pub nlu: Option<baton_nlu::NluConfig>,
    /// What the bot says and the flows it follows; no bot runs without it.
    #[serde(default)]
    pub dialogue: Option<baton_dialogue::DialogueConfig>,
    /// When the bot hands over and what the agent is given; the demo's when absent.
    #[serde(default)]
    pub handoff: Option<baton_handoff::HandoffConfig>,
    /// The shop's systems; each absent connector uses the built-in demo data.
    #[serde(default)]
    pub connectors: baton_connectors::ConnectorsConfig,
    #[serde(default)]
    pub knowledge: KnowledgeSection,
    /// Who serves which queue, when, and what waiting customers are told; without it, handoffs
    /// wait in one list that agents pull from.
    #[serde(default)]
    pub routing: Option<baton_routing::RoutingConfig>,
}

/// The knowledge base: the bundled demo articles, or a folder of markdown articles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSection {
    /// A folder of `*.md` articles with front matter; the demo articles when absent.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub shutdown_grace_seconds: u64,
    /// A customer message the bot has not answered after this many seconds is taken over by
    /// whichever instance claims it first (its instance died, or its turn failed). Longer
    /// than the slowest connector call.
    pub bot_takeover_after_seconds: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("baton-data"),
            shutdown_grace_seconds: 10,
            bot_takeover_after_seconds: 30,
        }
    }
}

/// Bounds on what one client may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_ws_message_bytes: usize,
    pub messages_per_second: u32,
    pub message_burst: u32,
    pub agent_session_hours: u32,
    pub max_streams_per_token: u32,
    pub max_streams_per_ip: u32,
    pub ws_ping_seconds: u32,
    pub ws_idle_seconds: u32,
    pub conversations_per_minute_per_ip: u32,
    pub logins_per_minute: u32,
    /// Seconds a client may take to send a request's headers (slow-client protection).
    pub header_read_timeout_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_ws_message_bytes: 16 * 1024,
            messages_per_second: 5,
            message_burst: 20,
            agent_session_hours: 12,
            max_streams_per_token: 5,
            max_streams_per_ip: 500,
            ws_ping_seconds: 30,
            ws_idle_seconds: 90,
            conversations_per_minute_per_ip: 60,
            logins_per_minute: 10,
            header_read_timeout_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shop {
    pub name: String,
}

impl Default for Shop {
    fn default() -> Self {
        Self { name: "Baton".into() }
    }
}

/// An agent to create on first start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSeed {
    pub email: String,
    pub display_name: String,
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "agent".into()
}

impl Config {
    /// Parses and checks a configuration; `source_name` (a path, or "the demo
    /// configuration") appears in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let limits = &config.limits;
        for (name, value) in [
            ("limits.max_body_bytes", limits.max_body_bytes),
            ("limits.max_ws_message_bytes", limits.max_ws_message_bytes),
            ("limits.messages_per_second", limits.messages_per_second as usize),
            ("limits.message_burst", limits.message_burst as usize),
            ("limits.agent_session_hours", limits.agent_session_hours as usize),
            ("limits.max_streams_per_token", limits.max_streams_per_token as usize),
            ("limits.max_streams_per_ip", limits.max_streams_per_ip as usize),
            ("limits.ws_ping_seconds", limits.ws_ping_seconds as usize),
            ("limits.ws_idle_seconds", limits.ws_idle_seconds as usize),
            (
                "limits.conversations_per_minute_per_ip",
                limits.conversations_per_minute_per_ip as usize,
            ),
            ("limits.logins_per_minute", limits.logins_per_minute as usize),
            (
                "limits.header_read_timeout_seconds",
                limits.header_read_timeout_seconds as usize,
            ),
        ] {
            if value == 0 {
                return Err(invalid(format!("`{name}` must be greater than 0")));
            }
        }
        if limits.ws_idle_seconds <= limits.ws_ping_seconds {
            return Err(invalid(
                "`limits.ws_idle_seconds` must be longer than `limits.ws_ping_seconds`".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, agent) in config.agents.iter().enumerate() {
            let at = format!("agents[{i}] ({})", agent.email);
            if !agent.email.contains('@') {
                return Err(invalid(format!("{at}: `email` is not an email address")));
            }
            if !seen.insert(agent.email.to_lowercase()) {
                return Err(invalid(format!("{at}: the same email appears twice")));
            }
            if agent.display_name.trim().is_empty() {
                return Err(invalid(format!("{at}: `display_name` must not be empty")));
            }
            if baton_store::Role::parse(&agent.role).is_none() {
                return Err(invalid(format!(
                    "{at}: `role` must be one of agent, supervisor, admin, not `{}`",
                    agent.role
                )));
            }
        }
        Ok(config)
    }

    /// The bundled demo configuration.
    pub fn demo() -> Self {
        // The demo file is part of the binary and checked by a unit test.
        Self::parse(DEMO_CONFIG, "the demo configuration").unwrap_or_else(|e| panic!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_parses() {
        let config = Config::parse(DEMO_CONFIG, "demo").expect("demo config");
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert!(config.agents.len() >= 2);
        let nlu = config.nlu.expect("the demo has an nlu section");
        assert_eq!(nlu.languages, vec!["en", "es"]);
        assert!(nlu.intents.len() >= 15);
    }

    #[test]
    fn errors_name_the_bad_entry() {
        let err = Config::parse("[limits]\nmessages_per_second = 0\n", "x.toml").expect_err("zero rate");
        assert!(err.to_string().contains("limits.messages_per_second"), "{err}");
        let err = Config::parse("[[agents]]\nemail='a@b.c'\ndisplay_name='A'\nrole='boss'\n", "x.toml")
            .expect_err("bad role");
        assert!(
            err.to_string().contains("agents[0]") && err.to_string().contains("boss"),
            "{err}"
        );
        let err = Config::parse("[server]\nlisten = 'nowhere'\n", "x.toml").expect_err("bad address");
        assert!(
            err.to_string().contains("x.toml") && err.to_string().contains("listen"),
            "{err}"
        );
        let err = Config::parse("[limitz]\n", "x.toml").expect_err("unknown section");
        assert!(err.to_string().contains("limitz"), "{err}");
    }
}
