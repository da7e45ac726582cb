//! Understanding customer messages.
//!
//! This crate turns a message into what the bot and the agent's brief need: the intent (with
//! calibrated confidences and out-of-scope rejection). It is pure: it reads only the text and
//! the labelled examples it is given, does no I/O, never reads the clock and is deterministic
//! for a given input (training shuffles with a fixed seed).
//!
//! - [`features`]: TF-IDF over word 1-2 grams and character 2-5 grams inside word boundaries.
//! - [`classifier`]: multinomial logistic regression trained by SGD over those features, and
//!   the classifier the intent model trains (that, the network, or both averaged).
//! - [`network`]: a one-hidden-layer network over the same features.
//! - [`tuning`]: cross-validation on training data and the sweep that picks the classifier.
//! - [`intent`]: the intent model: training from examples, out-of-scope threshold chosen on
//!   held-out training data, top intents with confidences.

pub mod analyzer;
pub mod classifier;
pub mod entities;
pub mod features;
pub mod intent;
pub mod language;
pub mod metrics;
pub mod network;
pub mod sentiment;
pub mod tuning;

pub use analyzer::{Analysis, Analyzer, NluConfig, NluConfigError};
pub use intent::{IntentModel, IntentPrediction, Prediction, TrainError, TrainingExample, TrainingOptions};
