//! What is said at handoff, beyond the brief: the opener an agent may send first (in the
//! customer's language, naming the customer, the agent, the team and the issue with its key
//! fact, and ending by confirming the intent), and the acknowledgment the customer gets when
//! the handoff starts (naming what was passed on, so they know not to repeat it).
//!
//! Both are pure functions of the package and the configuration; without a name or facts
//! they stay natural ("Hi, I'm Nina from billing."), never "Hi {name}".

use crate::brief::{intent_label, join};
use crate::config::HandoffConfig;
use crate::package::{AuthLevel, ContextPackage};
use baton_dialogue::text::render;
use baton_dialogue::Localized;
use baton_domain::Values;

/// The customer's language, as far as the package says.
fn customer_language<'p>(package: &'p ContextPackage, config: &'p HandoffConfig) -> &'p str {
    let language = package.conversation.language.as_str();
    if config.languages.iter().any(|l| l == language) {
        language
    } else {
        &config.default_language
    }
}

fn team<'p>(package: &'p ContextPackage, language: &str) -> &'p str {
    package
        .routing
        .team
        .iter()
        .find(|t| t.language == language)
        .or_else(|| package.routing.team.first())
        .map_or("", |t| t.text.as_str())
}

/// The customer's first name, when known.
fn first_name(package: &ContextPackage) -> Option<String> {
    package
        .identity
        .name
        .as_deref()
        .and_then(|n| n.split_whitespace().next())
        .map(str::to_owned)
}

/// Slot values the templates may name (`{order_number}`), plus the intent's words.
fn values(package: &ContextPackage, language: &str, config: &HandoffConfig) -> Values {
    let mut values: Values = package
        .action
        .entities
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    // "About wants a person" says nothing: a request for a person is not the issue.
    if let Some(intent) = package
        .action
        .intent
        .as_ref()
        .filter(|i| !config.escalation.explicit_intents.contains(&i.name))
    {
        values.insert("intent".into(), intent_label(config, &intent.name, language));
    }
    values
}

/// The opener `agent` may send first, in the customer's language.
pub fn opener(package: &ContextPackage, agent: &str, config: &HandoffConfig) -> String {
    let language = customer_language(package, config);
    let say = |text: &Localized| text.get(language, &config.default_language).to_owned();
    let t = &config.texts;
    let mut values = values(package, language, config);
    values.insert("agent".into(), agent.to_owned());
    values.insert("team".into(), team(package, language).to_owned());
    let greeting = match first_name(package) {
        Some(name) => {
            values.insert("name".into(), name);
            render(&say(&t.opener_greeting), &values, |_, v| v.to_owned())
        }
        None => render(&say(&t.opener_greeting_anonymous), &values, |_, v| v.to_owned()),
    };
    let configured = package.action.intent.as_ref().and_then(|i| config.openers.get(&i.name));
    let (issue, question) = match configured {
        Some(opener) => {
            let mut issue = render(&say(&opener.issue), &values, |_, v| v.to_owned());
            // What the bot tried and could not do, when the configuration says it in words.
            for attempt in package
                .action
                .actions_tried
                .iter()
                .filter(|a| a.outcome != crate::package::AttemptOutcome::Ok)
            {
                if let Some(clause) = config.failure_clauses.get(&attempt.action) {
                    let clause = say(clause);
                    if !issue.contains(&clause) {
                        issue = format!("{issue} {clause}");
                    }
                }
            }
            (issue, render(&say(&opener.question), &values, |_, v| v.to_owned()))
        }
        None => (
            render(&say(&t.opener_issue_unknown), &values, |_, v| v.to_owned()),
            say(&t.opener_question_unknown),
        ),
    };
    let issue = issue.trim_end_matches('.').to_owned();
    format!("{greeting} {issue}. {question}")
}

/// What the customer is told when the handoff starts, in their language.
pub fn acknowledgment(package: &ContextPackage, config: &HandoffConfig) -> String {
    let language = customer_language(package, config);
    let say = |text: &Localized| text.get(language, &config.default_language).to_owned();
    let t = &config.texts;
    let mut shared = vec![say(&t.shared_conversation)];
    let mut orders: Vec<&str> = package
        .action
        .entities
        .iter()
        .filter(|e| e.name == "order_number")
        .map(|e| e.value.as_str())
        .collect();
    orders.dedup();
    for order in orders {
        let mut values = Values::new();
        values.insert("value".into(), order.to_owned());
        shared.push(render(&say(&t.shared_order), &values, |_, v| v.to_owned()));
    }
    // Only a proven account was passed on; saying so for a claim would also tell the customer
    // that the address they typed has an account.
    let identified = package.identity.customer_id.is_some() && package.identity.auth.state == AuthLevel::Verified;
    if identified {
        shared.push(say(&t.shared_account));
    }
    let mut values = Values::new();
    values.insert("shared".into(), join(&shared, &say(&t.and)));
    values.insert("team".into(), team(package, language).to_owned());
    render(&say(&t.acknowledgment), &values, |_, v| v.to_owned())
}
