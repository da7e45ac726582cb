//! Classifiers over sparse features. [`Classifier`] is the one the intent model trains: a
//! multinomial logistic regression (here), the one-hidden-layer network of
//! [`crate::network`], or both with their probabilities averaged. Which one, and with what
//! settings, is chosen by cross-validation on training data (`baton nlu sweep`).
//!
//! The logistic regression is trained by stochastic gradient descent with L2 regularization.
//! Deterministic: examples are shuffled with a fixed seed. Weights are stored feature-major
//! (one row of `n_classes` weights per feature), so scoring a sparse vector reads one
//! contiguous row per non-zero feature.

use crate::features::SparseVector;
use crate::network::{NetworkModel, NetworkOptions};
use std::fmt;

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdOptions {
    pub epochs: usize,
    /// Step size of the first epoch; it decays as `lr / (1 + decay * epoch)`.
    pub learning_rate: f32,
    pub decay: f32,
    /// L2 penalty per example (scikit-learn's `1 / (C * n_examples)`).
    pub l2: f32,
    pub seed: u64,
}

impl Default for SgdOptions {
    fn default() -> Self {
        Self {
            epochs: 30,
            learning_rate: 2.0,
            decay: 0.2,
            l2: 1e-6,
            seed: 0x5eed,
        }
    }
}

/// A trained linear model.
#[derive(Debug, Clone)]
pub struct LinearModel {
    n_classes: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// A small deterministic PRNG (SplitMix64) for shuffling.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Turns scores into probabilities in place.
pub fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|s| *s /= sum);
    }
}

impl LinearModel {
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Class scores (logits) of one vector, written into `out` (length `n_classes`).
    pub fn scores_into(&self, x: &SparseVector, out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        let k = self.n_classes;
        for &(j, v) in x {
            let row = &self.weights[j as usize * k..(j as usize + 1) * k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += v * w;
            }
        }
    }

    /// Class probabilities of one vector.
    pub fn probabilities(&self, x: &SparseVector) -> Vec<f32> {
        let mut out = vec![0.0; self.n_classes];
        self.scores_into(x, &mut out);
        softmax(&mut out);
        out
    }

    /// Trains on `xs` with labels `ys` (each below `n_classes`).
    pub fn train(xs: &[SparseVector], ys: &[u32], n_features: usize, n_classes: usize, options: &SgdOptions) -> Self {
        let mut model = LinearModel {
            n_classes,
            weights: vec![0.0; n_features * n_classes],
            bias: vec![0.0; n_classes],
        };
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = SplitMix(options.seed);
        let mut probs = vec![0.0f32; n_classes];
        let k = n_classes;
        for epoch in 0..options.epochs {
            rng.shuffle(&mut order);
            let lr = options.learning_rate / (1.0 + options.decay * epoch as f32);
            // L2 shrinkage for the whole epoch at once: with a small penalty this matches
            // per-step shrinkage closely and keeps each step sparse.
            let shrink = (1.0 - lr * options.l2 * xs.len() as f32).max(0.0);
            model.weights.iter_mut().for_each(|w| *w *= shrink);
            for &i in &order {
                let x = &xs[i];
                model.scores_into(x, &mut probs);
                softmax(&mut probs);
                probs[ys[i] as usize] -= 1.0;
                for (b, g) in model.bias.iter_mut().zip(&probs) {
                    *b -= lr * g;
                }
                for &(j, v) in x {
                    let row = &mut model.weights[j as usize * k..(j as usize + 1) * k];
                    let step = lr * v;
                    for (w, g) in row.iter_mut().zip(&probs) {
                        *w -= step * g;
                    }
                }
            }
        }
        model
    }
}

/// Which classifier to train, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassifierOptions {
    Linear(SgdOptions),
    Network(NetworkOptions),
    /// Both, trained apart; their probabilities are averaged.
    Ensemble {
        linear: SgdOptions,
        network: NetworkOptions,
    },
}

impl Default for ClassifierOptions {
    /// The candidate `baton nlu sweep` chose on BANKING77's training data (docs/benchmarks.md):
    /// both models, averaged.
    fn default() -> Self {
        ClassifierOptions::Ensemble {
            linear: SgdOptions::default(),
            network: NetworkOptions::default(),
        }
    }
}

impl ClassifierOptions {
    /// The same settings with another seed for shuffling (and the network's initial weights).
    pub fn with_seed(mut self, seed: u64) -> Self {
        match &mut self {
            ClassifierOptions::Linear(linear) => linear.seed = seed,
            ClassifierOptions::Network(network) => network.seed = seed,
            ClassifierOptions::Ensemble { linear, network } => {
                linear.seed = seed;
                network.seed = seed;
            }
        }
        self
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        match self {
            ClassifierOptions::Linear(linear) | ClassifierOptions::Ensemble { linear, .. } => linear.seed,
            ClassifierOptions::Network(network) => network.seed,
        }
    }
}

impl fmt::Display for SgdOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "linear(epochs={}, lr={}, decay={}, l2={})",
            self.epochs, self.learning_rate, self.decay, self.l2
        )
    }
}

impl fmt::Display for NetworkOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "network(hidden={}, dropout={}, epochs={}, lr={}, decay={})",
            self.hidden, self.dropout, self.epochs, self.learning_rate, self.decay
        )
    }
}

/// Names the settings (not the seed), as the sweep's table shows them.
impl fmt::Display for ClassifierOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassifierOptions::Linear(linear) => linear.fmt(f),
            ClassifierOptions::Network(network) => network.fmt(f),
            ClassifierOptions::Ensemble { linear, network } => write!(f, "{linear} + {network}"),
        }
    }
}

/// A trained classifier.
#[derive(Debug, Clone)]
pub enum Classifier {
    Linear(LinearModel),
    Network(NetworkModel),
    Ensemble(LinearModel, NetworkModel),
}

impl Classifier {
    /// Trains on `xs` with labels `ys` (each below `n_classes`).
    pub fn train(
        xs: &[SparseVector],
        ys: &[u32],
        n_features: usize,
        n_classes: usize,
        options: &ClassifierOptions,
    ) -> Self {
        match options {
            ClassifierOptions::Linear(linear) => {
                Classifier::Linear(LinearModel::train(xs, ys, n_features, n_classes, linear))
            }
            ClassifierOptions::Network(network) => {
                Classifier::Network(NetworkModel::train(xs, ys, n_features, n_classes, network))
            }
            ClassifierOptions::Ensemble { linear, network } => Classifier::Ensemble(
                LinearModel::train(xs, ys, n_features, n_classes, linear),
                NetworkModel::train(xs, ys, n_features, n_classes, network),
            ),
        }
    }

    /// Class scores (logits) of one vector, written into `out` (length `n_classes`). For the
    /// ensemble: the logarithm of the two models' averaged probabilities.
    pub fn scores_into(&self, x: &SparseVector, out: &mut [f32]) {
        match self {
            Classifier::Linear(linear) => linear.scores_into(x, out),
            Classifier::Network(network) => network.scores_into(x, out),
            Classifier::Ensemble(linear, network) => {
                let mut other = vec![0.0; out.len()];
                linear.scores_into(x, out);
                network.scores_into(x, &mut other);
                softmax(out);
                softmax(&mut other);
                for (o, p) in out.iter_mut().zip(&other) {
                    *o = ((*o + p) / 2.0).max(1e-30).ln();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem_and_is_deterministic() {
        let xs: Vec<SparseVector> = vec![vec![(0, 1.0)], vec![(1, 1.0)], vec![(2, 1.0)], vec![(0, 0.7), (3, 0.7)]];
        let ys = vec![0, 1, 2, 0];
        let options = SgdOptions {
            epochs: 50,
            ..SgdOptions::default()
        };
        let a = LinearModel::train(&xs, &ys, 4, 3, &options);
        let b = LinearModel::train(&xs, &ys, 4, 3, &options);
        for (x, y) in xs.iter().zip(&ys) {
            let p = a.probabilities(x);
            let best = p.iter().enumerate().max_by(|l, r| l.1.total_cmp(r.1)).map(|(i, _)| i);
            assert_eq!(best, Some(*y as usize));
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert_eq!(a.weights, b.weights);
    }

    #[test]
    fn an_ensemble_averages_the_probabilities_of_its_models() {
        let xs: Vec<SparseVector> = vec![vec![(0, 1.0)], vec![(1, 1.0)], vec![(2, 1.0)]];
        let ys = vec![0, 1, 2];
        let linear = SgdOptions::default();
        let network = NetworkOptions {
            hidden: 8,
            epochs: 50,
            ..NetworkOptions::default()
        };
        let both = Classifier::train(
            &xs,
            &ys,
            3,
            3,
            &ClassifierOptions::Ensemble {
                linear: linear.clone(),
                network: network.clone(),
            },
        );
        let a = Classifier::train(&xs, &ys, 3, 3, &ClassifierOptions::Linear(linear));
        let b = Classifier::train(&xs, &ys, 3, 3, &ClassifierOptions::Network(network));
        for x in &xs {
            let (mut s, mut pa, mut pb) = ([0.0; 3], [0.0; 3], [0.0; 3]);
            both.scores_into(x, &mut s);
            a.scores_into(x, &mut pa);
            b.scores_into(x, &mut pb);
            softmax(&mut s);
            softmax(&mut pa);
            softmax(&mut pb);
            for c in 0..3 {
                assert!((s[c] - (pa[c] + pb[c]) / 2.0).abs() < 1e-5);
            }
        }
        assert_eq!(
            ClassifierOptions::default().with_seed(9).seed(),
            9,
            "a seed reaches every model"
        );
    }

    #[test]
    fn softmax_is_stable_for_large_scores() {
        let mut s = [1000.0, 1000.0, -1000.0];
        softmax(&mut s);
        assert!((s[0] - 0.5).abs() < 1e-6 && s[2] == 0.0);
    }
}
