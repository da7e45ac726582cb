//! The intent model: trained from labelled examples, it names the most likely intents of a
//! message with confidences, and reports a message that matches none of them as out of scope.
//!
//! Out-of-scope detection uses two signals: a rejection class, when the training data has
//! examples labelled out of scope, and a confidence threshold. The threshold is chosen on a
//! held-out part of the training data (never on test data), then the final model is trained on
//! all of it. Confidences are the softmax probabilities after temperature scaling fitted on the
//! same held-out part. Measured on BANKING77's test split (docs/benchmarks.md), the expected
//! calibration error is under one point: there "0.8" means right about 80% of the time. On a
//! small configuration (the demo's 40 examples per intent) the held-out part is small and the
//! gap is several points, so read confidences there as a ranking first.

use crate::classifier::{softmax, Classifier, ClassifierOptions};
use crate::features::{grams, Grams, SparseVector, Vectorizer};
use std::collections::BTreeMap;

/// One labelled example; `intent: None` marks an out-of-scope example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingExample {
    pub text: String,
    pub intent: Option<String>,
}

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingOptions {
    pub classifier: ClassifierOptions,
    /// Share of each intent's examples held out to choose the threshold and temperature.
    pub holdout: f32,
    /// With no out-of-scope examples: the share of held-out in-scope messages the threshold
    /// may reject.
    pub max_false_rejection: f32,
    /// With out-of-scope examples: how much held-out in-scope accuracy rejection may cost
    /// (0.03 = three points below the accuracy without rejection); within that, the
    /// threshold rejects as much out-of-scope as it can.
    pub max_accuracy_loss: f32,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        Self {
            classifier: ClassifierOptions::default(),
            holdout: 0.1,
            max_false_rejection: 0.02,
            max_accuracy_loss: 0.03,
        }
    }
}

/// Why a model could not be trained. Names the example at fault where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("no training examples")]
    NoExamples,
    #[error("at least 2 intents are needed; found {0}")]
    TooFewIntents(usize),
    #[error("example {index} has empty text")]
    EmptyText { index: usize },
    #[error("example {index} has an empty intent name")]
    EmptyIntent { index: usize },
}

/// One candidate intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentPrediction {
    pub intent: String,
    pub confidence: f32,
}

/// What the model says of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The most likely intents, best first (at most 3), out-of-scope class excluded.
    pub top: Vec<IntentPrediction>,
    /// True when the message matches no intent well enough.
    pub out_of_scope: bool,
}

impl Prediction {
    /// The intent to act on: `None` when out of scope.
    pub fn intent(&self) -> Option<&IntentPrediction> {
        if self.out_of_scope {
            None
        } else {
            self.top.first()
        }
    }
}

/// A trained intent model.
#[derive(Debug, Clone)]
pub struct IntentModel {
    vectorizer: Vectorizer,
    model: Classifier,
    /// Class names; the out-of-scope class, if any, is `oos_class`.
    labels: Vec<String>,
    oos_class: Option<usize>,
    temperature: f32,
    threshold: f32,
}

const TOP: usize = 3;

/// The model and the index of each class, before thresholds are chosen.
struct Fitted {
    vectorizer: Vectorizer,
    model: Classifier,
}

fn fit(docs: &[Grams], ys: &[u32], n_classes: usize, options: &ClassifierOptions) -> Fitted {
    let vectorizer = Vectorizer::fit(docs);
    let xs: Vec<SparseVector> = docs.iter().map(|d| vectorizer.transform(d)).collect();
    let model = Classifier::train(&xs, ys, vectorizer.len(), n_classes, options);
    Fitted { vectorizer, model }
}

impl IntentModel {
    /// Trains on `examples`.
    pub fn train(examples: &[TrainingExample], options: &TrainingOptions) -> Result<Self, TrainError> {
        if examples.is_empty() {
            return Err(TrainError::NoExamples);
        }
        let mut classes: BTreeMap<&str, u32> = BTreeMap::new();
        for (index, example) in examples.iter().enumerate() {
            if example.text.trim().is_empty() {
                return Err(TrainError::EmptyText { index });
            }
            if let Some(intent) = &example.intent {
                if intent.trim().is_empty() {
                    return Err(TrainError::EmptyIntent { index });
                }
                classes.insert(intent, 0);
            }
        }
        if classes.len() < 2 {
            return Err(TrainError::TooFewIntents(classes.len()));
        }
        let mut labels: Vec<String> = classes.keys().map(|s| (*s).to_owned()).collect();
        for (i, value) in classes.values_mut().enumerate() {
            *value = i as u32;
        }
        let has_oos = examples.iter().any(|e| e.intent.is_none());
        let oos_class = has_oos.then(|| {
            labels.push("(out of scope)".into());
            labels.len() - 1
        });
        let ys: Vec<u32> = examples
            .iter()
            .map(|e| match &e.intent {
                Some(intent) => classes[intent.as_str()],
                None => oos_class.unwrap_or_default() as u32,
            })
            .collect();
        let docs: Vec<Grams> = examples.iter().map(|e| grams(&e.text)).collect();
        let n_classes = labels.len();

        // Hold out every k-th example of each class (deterministic), fit, choose the
        // temperature and threshold on what was held out.
        let every = (1.0 / options.holdout.clamp(0.01, 0.5)).round().max(2.0) as usize;
        let mut seen = vec![0usize; n_classes];
        let held_out: Vec<bool> = ys
            .iter()
            .map(|y| {
                seen[*y as usize] += 1;
                seen[*y as usize].is_multiple_of(every)
            })
            .collect();
        // The model on what was not held out (to choose the temperature and threshold) and the
        // final model on everything are independent: they train at the same time, each seeded
        // alike, so the result is the same as one after the other.
        let calibrating = held_out.iter().any(|h| *h) && held_out.iter().any(|h| !*h);
        let (calibration, full) = std::thread::scope(|scope| {
            let calibration = calibrating.then(|| {
                scope.spawn(|| {
                    let pick = |keep: bool| -> (Vec<Grams>, Vec<u32>) {
                        let mut d = Vec::new();
                        let mut y = Vec::new();
                        for ((doc, label), held) in docs.iter().zip(&ys).zip(&held_out) {
                            if *held == keep {
                                d.push(Grams {
                                    words: doc.words.clone(),
                                    chars: doc.chars.clone(),
                                });
                                y.push(*label);
                            }
                        }
                        (d, y)
                    };
                    let (train_docs, train_ys) = pick(false);
                    let (dev_docs, dev_ys) = pick(true);
                    let partial = fit(&train_docs, &train_ys, n_classes, &options.classifier);
                    let dev_scores: Vec<Vec<f32>> = dev_docs
                        .iter()
                        .map(|d| {
                            let mut s = vec![0.0; n_classes];
                            partial.model.scores_into(&partial.vectorizer.transform(d), &mut s);
                            s
                        })
                        .collect();
                    (dev_scores, dev_ys)
                })
            });
            let full = fit(&docs, &ys, n_classes, &options.classifier);
            (calibration.map(|handle| handle.join()), full)
        });
        let (mut temperature, mut threshold) = (1.0, 0.0);
        if let Some(joined) = calibration {
            // A panic in the calibrating thread is a bug in this crate; pass it on unchanged.
            let (dev_scores, dev_ys) = joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            temperature = fit_temperature(&dev_scores, &dev_ys);
            threshold = choose_threshold(
                &dev_scores,
                &dev_ys,
                temperature,
                oos_class,
                options.max_false_rejection,
                options.max_accuracy_loss,
            );
        }
        Ok(Self {
            vectorizer: full.vectorizer,
            model: full.model,
            labels,
            oos_class,
            temperature,
            threshold,
        })
    }

    /// The in-scope intents the model knows, sorted.
    pub fn intents(&self) -> impl Iterator<Item = &str> {
        self.labels
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.oos_class)
            .map(|(_, l)| l.as_str())
    }

    /// The confidence below which a message is out of scope.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Number of features the model uses.
    pub fn feature_count(&self) -> usize {
        self.vectorizer.len()
    }

    /// Classifies one message.
    pub fn predict(&self, text: &str) -> Prediction {
        let x = self.vectorizer.transform(&grams(text));
        let mut scores = vec![0.0; self.labels.len()];
        self.model.scores_into(&x, &mut scores);
        let probs = calibrated(&scores, self.temperature);
        let best = argmax(&probs);
        let mut ranked: Vec<(usize, f32)> = probs
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.oos_class)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<IntentPrediction> = ranked
            .iter()
            .take(TOP)
            .map(|(i, p)| IntentPrediction {
                intent: self.labels[*i].clone(),
                confidence: *p,
            })
            .collect();
        let best_in_scope = ranked.first().map(|(_, p)| *p).unwrap_or(0.0);
        let out_of_scope = x.is_empty() || Some(best) == self.oos_class || best_in_scope < self.threshold;
        Prediction { top, out_of_scope }
    }
}

/// The index of the highest value; the first of equals.
pub(crate) fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

fn calibrated(scores: &[f32], temperature: f32) -> Vec<f32> {
    let mut p: Vec<f32> = scores.iter().map(|s| s / temperature).collect();
    softmax(&mut p);
    p
}

/// The temperature that minimizes the held-out negative log-likelihood (golden-section search).
fn fit_temperature(scores: &[Vec<f32>], ys: &[u32]) -> f32 {
    let nll = |t: f32| -> f32 {
        scores
            .iter()
            .zip(ys)
            .map(|(s, y)| -(calibrated(s, t)[*y as usize].max(1e-12)).ln())
            .sum::<f32>()
    };
    let (mut lo, mut hi) = (0.05f32, 20.0f32);
    let ratio = 0.618_034f32;
    for _ in 0..60 {
        let a = hi - ratio * (hi - lo);
        let b = lo + ratio * (hi - lo);
        if nll(a) < nll(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    (lo + hi) / 2.0
}

/// The confidence threshold. With out-of-scope examples held out: the highest threshold (so
/// the most out-of-scope rejected) at which held-out in-scope accuracy stays within
/// `max_accuracy_loss` of the accuracy without rejection (the best in-scope intent taken as
/// it is). Maximizing a mean of accuracy and out-of-scope recall instead overshoots when
/// out-of-scope examples are few: each one weighs as much as many in-scope messages. Without
/// out-of-scope examples: the highest threshold that rejects at most `max_false_rejection` of
/// held-out in-scope messages.
fn choose_threshold(
    scores: &[Vec<f32>],
    ys: &[u32],
    temperature: f32,
    oos_class: Option<usize>,
    max_false_rejection: f32,
    max_accuracy_loss: f32,
) -> f32 {
    // (confidence, is out of scope, right with rejection, right without rejection)
    let rows: Vec<(f32, bool, bool, bool)> = scores
        .iter()
        .zip(ys)
        .map(|(s, y)| {
            let p = calibrated(s, temperature);
            let best = argmax(&p);
            let (best_in_scope, best_in_scope_value) = p
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != oos_class)
                .fold((0, 0.0), |best, (i, v)| if *v > best.1 { (i, *v) } else { best });
            let is_oos = Some(*y as usize) == oos_class;
            let predicted_oos_class = Some(best) == oos_class;
            (
                if predicted_oos_class { 0.0 } else { best_in_scope_value },
                is_oos,
                best == *y as usize,
                best_in_scope == *y as usize,
            )
        })
        .collect();
    let in_scope: Vec<_> = rows.iter().filter(|r| !r.1).collect();
    let oos: Vec<_> = rows.iter().filter(|r| r.1).collect();
    if in_scope.is_empty() {
        return 0.0;
    }
    let mut candidates: Vec<f32> = rows.iter().map(|r| r.0).collect();
    candidates.push(0.0);
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    if oos.is_empty() {
        let allowed = (max_false_rejection * in_scope.len() as f32).floor() as usize;
        let mut confidences: Vec<f32> = in_scope.iter().map(|r| r.0).collect();
        confidences.sort_by(f32::total_cmp);
        // Rejecting below the (allowed)-th lowest confidence rejects exactly `allowed`.
        return confidences.get(allowed).copied().map(|c| c.min(0.999)).unwrap_or(0.0) * 0.999;
    }
    let n = in_scope.len() as f32;
    let without_rejection = in_scope.iter().filter(|r| r.3).count() as f32 / n;
    let floor = without_rejection - max_accuracy_loss;
    let accuracy = |t: f32| in_scope.iter().filter(|r| r.2 && r.0 >= t).count() as f32 / n;
    // Accuracy falls as the threshold rises: the last candidate above the floor rejects most.
    candidates
        .into_iter()
        .take_while(|t| accuracy(*t) >= floor)
        .last()
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
