//! Turns what `baton-nlu` understood of a message into the record stored in the log
//! ([`MessageAnalysis`]), with the version of the model that produced it.

use baton_domain::{FoundEntity, IntentGuess, MessageAnalysis, SentimentReading};
use baton_nlu::sentiment::FrustrationMarker;
use baton_nlu::Analysis;
use sha2::{Digest, Sha256};

/// A short digest naming a model: the same configuration text gives the same version.
pub fn model_version(nlu_configuration: &str) -> String {
    let digest = Sha256::digest(nlu_configuration.as_bytes());
    format!("nlu-{}", &hex::encode(digest)[..12])
}

fn marker_name(marker: FrustrationMarker) -> &'static str {
    match marker {
        FrustrationMarker::AllCaps => "all_caps",
        FrustrationMarker::RepeatedPunctuation => "repeated_punctuation",
        FrustrationMarker::AsksForHuman => "asks_for_human",
        FrustrationMarker::Exasperation => "exasperation",
        FrustrationMarker::Profanity => "profanity",
    }
}

/// The record of one analysis.
pub fn analysis_record(analysis: &Analysis, model_version: &str) -> MessageAnalysis {
    let guess = |p: &baton_nlu::IntentPrediction| IntentGuess {
        intent: p.intent.clone(),
        confidence: p.confidence,
    };
    MessageAnalysis {
        language: analysis.language.code.clone(),
        language_detected: analysis.language.detected,
        intent: analysis.intent.intent().map(guess),
        candidates: analysis.intent.top.iter().take(2).map(guess).collect(),
        out_of_scope: analysis.intent.out_of_scope,
        entities: analysis
            .entities
            .iter()
            .map(|e| FoundEntity {
                kind: e.kind.name().to_owned(),
                value: e.value.clone(),
                start: e.span.start,
                end: e.span.end,
            })
            .collect(),
        sentiment: SentimentReading {
            score: analysis.sentiment.score,
            markers: analysis
                .sentiment
                .markers
                .iter()
                .map(|m| marker_name(*m).to_owned())
                .collect(),
        },
        model_version: model_version.to_owned(),
    }
}
