//! Choosing the classifier's settings from training data alone: k-fold cross-validation over
//! the labelled examples, and a sweep that scores a fixed list of candidates and picks the
//! most accurate. Test data never enters here, so a choice made by the sweep is honest.
//!
//! Deterministic: folds are every k-th example of each intent, training is seeded, so running
//! the sweep twice on the same file gives the same table and the same choice.

use crate::classifier::{Classifier, ClassifierOptions, SgdOptions};
use crate::features::{grams, Grams, SparseVector, Vectorizer};
use crate::intent::{argmax, TrainingExample};
use crate::network::NetworkOptions;
use std::collections::BTreeMap;

/// Why cross-validation could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TuningError {
    #[error("cross-validation needs at least 2 folds; got {0}")]
    TooFewFolds(usize),
    #[error("cross-validation needs at least 2 in-scope intents; found {0}")]
    TooFewIntents(usize),
    #[error("no candidates to compare")]
    NoCandidates,
}

/// One candidate's cross-validated figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub options: ClassifierOptions,
    /// Accuracy over every held-out example of every fold.
    pub accuracy: f64,
    /// Each fold's accuracy, in fold order; `None` for a fold that held nothing out (fewer
    /// examples than folds).
    pub folds: Vec<Option<f64>>,
    /// Wall-clock seconds of training, all folds together (informative: the choice does not
    /// depend on it, so it stays the same on a slower machine).
    pub training_seconds: f64,
}

/// A sweep's table and its choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub rows: Vec<SweepRow>,
    /// Index into `rows` of the chosen candidate: the most accurate; a tie goes to the
    /// earlier (simpler) one.
    pub chosen: usize,
}

/// What `baton nlu sweep` compares: logistic regressions, networks, and (added by the sweep)
/// the best of the first averaged with the best of the second.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepGrid {
    pub linear: Vec<SgdOptions>,
    pub network: Vec<NetworkOptions>,
}

impl Default for SweepGrid {
    /// The grid behind the default classifier, written out here so that changing a default
    /// never changes the grid: three logistic regressions around the settings that match
    /// scikit-learn's, and networks of 256 units (step size 0.1, decay 0.3: not swept) over
    /// dropout and epochs.
    fn default() -> Self {
        let linear = SgdOptions {
            epochs: 30,
            learning_rate: 2.0,
            decay: 0.2,
            l2: 1e-6,
            seed: 0x5eed,
        };
        let mut networks = Vec::new();
        for dropout in [0.0, 0.3, 0.5] {
            for epochs in [10, 15, 20] {
                networks.push(NetworkOptions {
                    hidden: 256,
                    epochs,
                    learning_rate: 0.1,
                    decay: 0.3,
                    dropout,
                    seed: 0x5eed,
                });
            }
        }
        Self {
            linear: vec![
                linear.clone(),
                SgdOptions {
                    learning_rate: 1.0,
                    ..linear.clone()
                },
                SgdOptions { epochs: 45, ..linear },
            ],
            network: networks,
        }
    }
}

impl SweepGrid {
    /// How many candidates the sweep will score (the ensemble included).
    pub fn len(&self) -> usize {
        self.linear.len() + self.network.len() + usize::from(!self.linear.is_empty() && !self.network.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-scope examples as (grams, class), with the class names in order. Out-of-scope
/// examples are left out: the sweep compares how well intents are told apart.
fn labelled(examples: &[TrainingExample]) -> (Vec<Grams>, Vec<u32>, usize) {
    let mut classes: BTreeMap<&str, u32> = BTreeMap::new();
    for example in examples {
        if let Some(intent) = &example.intent {
            classes.insert(intent, 0);
        }
    }
    for (i, value) in classes.values_mut().enumerate() {
        *value = i as u32;
    }
    let (docs, ys) = examples
        .iter()
        .filter_map(|e| e.intent.as_deref().map(|i| (grams(&e.text), classes[i])))
        .unzip();
    (docs, ys, classes.len())
}

/// Which fold each example is held out in: every `folds`-th example of each class, so each
/// fold holds every intent in proportion.
fn fold_of(ys: &[u32], n_classes: usize, folds: usize) -> Vec<usize> {
    let mut seen = vec![0usize; n_classes];
    ys.iter()
        .map(|y| {
            let n = &mut seen[*y as usize];
            *n += 1;
            *n % folds
        })
        .collect()
}

/// Cross-validated accuracy of one candidate.
fn cross_validate(docs: &[Grams], ys: &[u32], n_classes: usize, folds: usize, options: &ClassifierOptions) -> SweepRow {
    let fold = fold_of(ys, n_classes, folds);
    let (mut right_all, mut total_all) = (0usize, 0usize);
    let mut per_fold = Vec::with_capacity(folds);
    let mut training_seconds = 0.0;
    for f in 0..folds {
        let mut train_docs = Vec::new();
        let mut train_ys = Vec::new();
        let mut held = Vec::new();
        for ((doc, y), fd) in docs.iter().zip(ys).zip(&fold) {
            if *fd == f {
                held.push((doc, *y));
            } else {
                train_docs.push(Grams {
                    words: doc.words.clone(),
                    chars: doc.chars.clone(),
                });
                train_ys.push(*y);
            }
        }
        let started = std::time::Instant::now();
        let vectorizer = Vectorizer::fit(&train_docs);
        let xs: Vec<SparseVector> = train_docs.iter().map(|d| vectorizer.transform(d)).collect();
        let model = Classifier::train(&xs, &train_ys, vectorizer.len(), n_classes, options);
        training_seconds += started.elapsed().as_secs_f64();
        let mut scores = vec![0.0; n_classes];
        let right = held
            .iter()
            .filter(|(doc, y)| {
                model.scores_into(&vectorizer.transform(doc), &mut scores);
                argmax(&scores) == *y as usize
            })
            .count();
        per_fold.push((!held.is_empty()).then(|| right as f64 / held.len() as f64));
        right_all += right;
        total_all += held.len();
    }
    SweepRow {
        options: options.clone(),
        accuracy: right_all as f64 / total_all.max(1) as f64,
        folds: per_fold,
        training_seconds,
    }
}

/// The first of the most accurate rows in `rows[range]`: a later one must be strictly better.
fn best(rows: &[SweepRow], range: std::ops::Range<usize>) -> Option<usize> {
    range.reduce(|best, i| {
        if rows[i].accuracy > rows[best].accuracy {
            i
        } else {
            best
        }
    })
}

/// Scores every candidate of `grid` by `folds`-fold cross-validation on `examples`, then the
/// best logistic regression averaged with the best network, and picks the most accurate.
/// `progress` hears about each row as it is done (a sweep takes minutes).
pub fn sweep(
    examples: &[TrainingExample],
    grid: &SweepGrid,
    folds: usize,
    mut progress: impl FnMut(&SweepRow),
) -> Result<Sweep, TuningError> {
    if folds < 2 {
        return Err(TuningError::TooFewFolds(folds));
    }
    if grid.is_empty() {
        return Err(TuningError::NoCandidates);
    }
    let (docs, ys, n_classes) = labelled(examples);
    if n_classes < 2 {
        return Err(TuningError::TooFewIntents(n_classes));
    }
    let mut rows = Vec::with_capacity(grid.len());
    let candidates = grid
        .linear
        .iter()
        .cloned()
        .map(ClassifierOptions::Linear)
        .chain(grid.network.iter().cloned().map(ClassifierOptions::Network));
    for options in candidates {
        let row = cross_validate(&docs, &ys, n_classes, folds, &options);
        progress(&row);
        rows.push(row);
    }
    let linear_rows = 0..grid.linear.len();
    let network_rows = grid.linear.len()..rows.len();
    if let (Some(l), Some(n)) = (best(&rows, linear_rows), best(&rows, network_rows)) {
        if let (ClassifierOptions::Linear(linear), ClassifierOptions::Network(network)) =
            (rows[l].options.clone(), rows[n].options.clone())
        {
            let row = cross_validate(
                &docs,
                &ys,
                n_classes,
                folds,
                &ClassifierOptions::Ensemble { linear, network },
            );
            progress(&row);
            rows.push(row);
        }
    }
    let chosen = best(&rows, 0..rows.len()).unwrap_or(0);
    Ok(Sweep { rows, chosen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<TrainingExample> {
        let data: &[(&str, &[&str])] = &[
            (
                "card_arrival",
                &[
                    "where is my new card",
                    "my card has not arrived",
                    "card still not here",
                    "when will my card come",
                    "card delivery is late",
                    "still waiting for the card",
                ],
            ),
            (
                "top_up_failed",
                &[
                    "my top up failed",
                    "top up did not work",
                    "could not add money",
                    "adding money was declined",
                    "the top-up was rejected",
                    "why did my top up fail",
                ],
            ),
        ];
        data.iter()
            .flat_map(|(intent, texts)| {
                texts.iter().map(|t| TrainingExample {
                    text: (*t).to_owned(),
                    intent: Some((*intent).to_owned()),
                })
            })
            .chain(std::iter::once(TrainingExample {
                text: "what is the weather".into(),
                intent: None,
            }))
            .collect()
    }

    /// The default classifier is a row of the default sweep: the ensemble of the grid's first
    /// logistic regression and one of its networks (the one the sweep chose on BANKING77).
    #[test]
    fn the_default_classifier_is_a_candidate_of_the_sweep() {
        let grid = SweepGrid::default();
        let ClassifierOptions::Ensemble { linear, network } = ClassifierOptions::default() else {
            panic!("the default is the ensemble the sweep chose");
        };
        assert_eq!(grid.linear.first(), Some(&linear));
        assert!(grid.network.contains(&network), "{network} is not in the grid");
    }

    #[test]
    fn folds_hold_every_intent_in_proportion() {
        let ys = [0, 0, 0, 1, 1, 1, 0, 1, 0, 1];
        let fold = fold_of(&ys, 2, 2);
        for f in 0..2 {
            for class in 0..2 {
                let n = ys.iter().zip(&fold).filter(|(y, fd)| **y == class && **fd == f).count();
                assert!(n >= 2, "fold {f} holds class {class} {n} times");
            }
        }
    }

    #[test]
    fn a_sweep_is_deterministic_and_chooses_the_first_of_the_best() {
        let examples = examples();
        let grid = SweepGrid {
            linear: vec![SgdOptions::default(), SgdOptions::default()],
            network: vec![NetworkOptions {
                hidden: 8,
                ..NetworkOptions::default()
            }],
        };
        let a = sweep(&examples, &grid, 3, |_| {}).expect("sweep");
        let b = sweep(&examples, &grid, 3, |_| {}).expect("sweep");
        assert_eq!(a.rows.len(), 4, "two linear, one network, their ensemble");
        assert_eq!(grid.len(), 4);
        assert!(
            matches!(&a.rows[3].options, ClassifierOptions::Ensemble { network, .. } if network.hidden == 8),
            "the ensemble is made of the best of each kind"
        );
        assert_eq!(a.rows[0].folds.len(), 3);
        for (x, y) in a.rows.iter().zip(&b.rows) {
            assert_eq!((x.accuracy, &x.folds, &x.options), (y.accuracy, &y.folds, &y.options));
        }
        assert_eq!(a.rows[0].accuracy, a.rows[1].accuracy, "same settings, same figure");
        let top = a.rows.iter().map(|r| r.accuracy).fold(f64::MIN, f64::max);
        let first_best = a.rows.iter().position(|r| r.accuracy == top);
        assert_eq!(
            Some(a.chosen),
            first_best,
            "the first of the most accurate: a tie goes to the earlier"
        );
        assert_eq!(a.chosen, b.chosen);
        assert!(a.rows[0].accuracy > 0.5, "{}", a.rows[0].accuracy);
    }

    #[test]
    fn a_sweep_refuses_what_it_cannot_do() {
        let examples = examples();
        let one = SweepGrid {
            linear: vec![SgdOptions::default()],
            network: vec![],
        };
        let none = SweepGrid {
            linear: vec![],
            network: vec![],
        };
        assert_eq!(sweep(&examples, &one, 1, |_| {}), Err(TuningError::TooFewFolds(1)));
        assert_eq!(sweep(&examples, &none, 3, |_| {}), Err(TuningError::NoCandidates));
        assert_eq!(
            sweep(&examples[..6], &one, 3, |_| {}),
            Err(TuningError::TooFewIntents(1))
        );
    }
}
