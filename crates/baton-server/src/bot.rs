//! Builds the bot from the configuration: trains the NLU models, checks the dialogue and the
//! handoff against them and the runtime's actions, opens the connectors and indexes the knowledge base. Every
//! error names the part of the configuration at fault.

use crate::config::Config;
use crate::hub::Hub;
use baton_domain::Event;
use baton_kb::{KnowledgeBase, MatchPolicy};
use baton_runtime::{Announce, BotParts};
use std::path::Path;
use std::sync::Arc;

/// Why the bot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BotSetupError {
    #[error(transparent)]
    Nlu(#[from] baton_nlu::NluConfigError),
    #[error(transparent)]
    Dialogue(#[from] baton_dialogue::DialogueConfigError),
    #[error("connectors: {0}")]
    Connectors(#[from] baton_connectors::ConnectorConfigError),
    #[error("knowledge base: {0}")]
    Knowledge(#[from] baton_kb::KbError),
    #[error("the configuration has a [dialogue] section but no [nlu] section to understand messages with")]
    DialogueWithoutNlu,
    #[error(transparent)]
    Handoff(#[from] baton_handoff::HandoffConfigError),
    #[error(transparent)]
    Routing(#[from] baton_routing::RoutingConfigError),
}

/// The routing configuration checked against the handoff's queues and languages; `None`
/// without a `[routing]` section (handoffs wait in one list agents pull from).
pub fn routing(config: &Config) -> Result<Option<baton_routing::Routing>, BotSetupError> {
    let Some(routing) = &config.routing else {
        return Ok(None);
    };
    let handoff = handoff_config(config)?;
    let queues: Vec<baton_routing::config::QueueSkills> = handoff
        .queues
        .iter()
        .map(|q| baton_routing::config::QueueSkills {
            name: q.name.clone(),
            skills: q.skills.clone(),
        })
        .collect();
    // The handoff's default language first: it is routing's default too.
    let mut languages = vec![handoff.default_language.clone()];
    languages.extend(
        handoff
            .languages
            .iter()
            .filter(|l| **l != handoff.default_language)
            .cloned(),
    );
    Ok(Some(routing.clone().check(&queues, &languages)?))
}

fn handoff_config(config: &Config) -> Result<baton_handoff::HandoffConfig, BotSetupError> {
    Ok(match &config.handoff {
        Some(handoff) => handoff.clone(),
        None => baton_handoff::HandoffConfig::demo()?,
    })
}

/// The router of a checked routing configuration, on `store`, announcing on `hub`; tickets go
/// through the configured ticketing connector.
pub fn router(
    config: &Config,
    routing: baton_routing::Routing,
    store: Arc<dyn baton_store::Store>,
    hub: Arc<Hub>,
) -> Result<Arc<baton_runtime::router::Router>, BotSetupError> {
    let connectors = baton_connectors::Connectors::from_config(&config.connectors)?;
    Ok(baton_runtime::router::Router::new(
        store,
        hub,
        Arc::new(routing),
        Arc::new(handoff_config(config)?),
        connectors.tickets,
    ))
}

impl Announce for Hub {
    fn publish(&self, events: &[Event]) {
        Hub::publish(self, events);
    }
}

/// Everything the bot needs, built and checked from `config`; `None` when the configuration
/// has no `[dialogue]` section (no bot: customer messages wait for a person).
pub fn bot_parts(config: &Config, knowledge_dir: Option<&Path>) -> Result<Option<BotParts>, BotSetupError> {
    let Some(dialogue) = &config.dialogue else {
        return Ok(None);
    };
    let nlu = config.nlu.as_ref().ok_or(BotSetupError::DialogueWithoutNlu)?;
    let analyzer = baton_nlu::Analyzer::new(nlu)?;
    let mut intents: Vec<&str> = Vec::new();
    for language in analyzer.languages() {
        if let Some(model) = analyzer.intent_model(language) {
            intents.extend(model.intents());
        }
    }
    intents.sort_unstable();
    intents.dedup();
    let languages: Vec<&str> = nlu.languages.iter().map(String::as_str).collect();
    dialogue.validate(&languages, &intents, baton_runtime::actions::ACTIONS)?;
    let handoff = handoff_config(config)?;
    handoff.validate(&intents, baton_runtime::actions::ACTIONS)?;
    let connectors = baton_connectors::Connectors::from_config(&config.connectors)?;
    let knowledge = match knowledge_dir.or(config.knowledge.dir.as_deref()) {
        Some(dir) => KnowledgeBase::from_dir(dir)?,
        None => KnowledgeBase::demo()?,
    };
    Ok(Some(BotParts {
        analyzer: Arc::new(analyzer),
        // The model is a function of its configuration: the same section, the same version.
        model_version: baton_runtime::model_version(&format!("{nlu:?}")),
        dialogue: Arc::new(dialogue.clone()),
        connectors,
        knowledge: Arc::new(knowledge),
        match_policy: MatchPolicy::default(),
        policy: Arc::new(baton_handoff::EscalationPolicy::new(&handoff)),
        handoff: Arc::new(handoff),
        collect_while_waiting: config.routing.as_ref().is_some_and(|r| r.collect_while_waiting),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_bot_builds_and_bad_dialogue_entries_are_named() {
        let mut config = Config::demo();
        let parts = bot_parts(&config, None).expect("the demo bot builds");
        assert!(parts.is_some_and(|p| p.knowledge.articles().len() >= 30));

        let dialogue = config.dialogue.as_mut().expect("the demo has a dialogue");
        dialogue.flows[0].action = "teleport".into();
        let err = bot_parts(&config, None).err().expect("an unknown action is refused");
        let message = err.to_string();
        assert!(
            message.contains("dialogue.flows[0] (order_status)") && message.contains("teleport"),
            "{message}"
        );

        let mut config = Config::demo();
        let dialogue = config.dialogue.as_mut().expect("the demo has a dialogue");
        dialogue.greeting.0.remove("es");
        let err = bot_parts(&config, None)
            .err()
            .expect("a missing translation is refused");
        assert!(
            err.to_string().contains("dialogue.greeting: has no text in `es`"),
            "{err}"
        );

        let mut config = Config::demo();
        config.nlu = None;
        assert!(matches!(
            bot_parts(&config, None),
            Err(BotSetupError::DialogueWithoutNlu)
        ));
    }
}
