//! A small neural network over the same sparse features as the linear model: one hidden layer
//! of rectified units, then a softmax over the classes. Trained by stochastic gradient descent
//! with dropout on the hidden layer. Deterministic: initial weights, shuffling and dropout all
//! come from one seeded generator.
//!
//! The hidden layer lets the model combine n-grams (for example "top up" with "failed" against
//! "top up" with "pending"), which a linear model over TF-IDF cannot; on BANKING77 it is the
//! larger part of the gain over logistic regression (docs/benchmarks.md).
//!
//! The first layer is stored feature-major (one row of `hidden` weights per feature), so the
//! hidden layer of a sparse vector reads one contiguous row per non-zero feature.

use crate::classifier::{softmax, SplitMix};
use crate::features::SparseVector;

/// How to train the network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkOptions {
    /// Units in the hidden layer.
    pub hidden: usize,
    pub epochs: usize,
    /// Step size of the first epoch; it decays as `lr / (1 + decay * epoch)`.
    pub learning_rate: f32,
    pub decay: f32,
    /// Share of hidden units dropped at each training step (0 keeps them all).
    pub dropout: f32,
    pub seed: u64,
}

impl Default for NetworkOptions {
    /// Dropout and epochs as `baton nlu sweep` chose them on BANKING77's training data (at
    /// the edge of its grid: 0.5 and 20 are its largest); 256 units, the step size and its
    /// decay were set by hand and are not swept.
    fn default() -> Self {
        Self {
            hidden: 256,
            epochs: 20,
            learning_rate: 0.1,
            decay: 0.3,
            dropout: 0.5,
            seed: 0x5eed,
        }
    }
}

/// A trained network.
#[derive(Debug, Clone)]
pub struct NetworkModel {
    hidden: usize,
    n_classes: usize,
    /// Feature-major: `n_features` rows of `hidden` weights.
    input: Vec<f32>,
    input_bias: Vec<f32>,
    /// Class-major: `n_classes` rows of `hidden` weights.
    output: Vec<f32>,
    output_bias: Vec<f32>,
}

impl SplitMix {
    /// A uniform draw in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The dot product of two equally long slices, summed in eight lanes: a plain `sum()` must
/// add one term after another (floating-point order), which the compiler cannot vectorize;
/// eight independent sums it can. This is most of the output layer's cost.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

impl NetworkModel {
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The hidden layer's activations for `x`, written into `out` (length `hidden`).
    fn activations(&self, x: &SparseVector, out: &mut [f32]) {
        out.copy_from_slice(&self.input_bias);
        let h = self.hidden;
        for &(j, v) in x {
            let row = &self.input[j as usize * h..(j as usize + 1) * h];
            for (o, w) in out.iter_mut().zip(row) {
                *o += v * w;
            }
        }
        out.iter_mut().for_each(|o| *o = o.max(0.0));
    }

    fn output_scores(&self, hidden: &[f32], out: &mut [f32]) {
        for (c, o) in out.iter_mut().enumerate() {
            let row = &self.output[c * self.hidden..(c + 1) * self.hidden];
            *o = self.output_bias[c] + dot(row, hidden);
        }
    }

    /// Class scores (logits) of one vector, written into `out` (length `n_classes`).
    pub fn scores_into(&self, x: &SparseVector, out: &mut [f32]) {
        let mut hidden = vec![0.0; self.hidden];
        self.activations(x, &mut hidden);
        self.output_scores(&hidden, out);
    }

    /// Trains on `xs` with labels `ys` (each below `n_classes`).
    pub fn train(
        xs: &[SparseVector],
        ys: &[u32],
        n_features: usize,
        n_classes: usize,
        options: &NetworkOptions,
    ) -> Self {
        let h = options.hidden.max(1);
        let k = n_classes;
        let mut rng = SplitMix(options.seed);
        // Uniform initialisation scaled to the layer's width (Glorot); the input layer's fan-in
        // is the few dozen non-zero features of a message, not the whole vocabulary.
        let input_scale = (6.0f32 / (50.0 + h as f32)).sqrt();
        let output_scale = (6.0f32 / (h + k) as f32).sqrt();
        let mut model = NetworkModel {
            hidden: h,
            n_classes: k,
            input: (0..n_features * h)
                .map(|_| (rng.unit() * 2.0 - 1.0) * input_scale)
                .collect(),
            input_bias: vec![0.0; h],
            output: (0..k * h).map(|_| (rng.unit() * 2.0 - 1.0) * output_scale).collect(),
            output_bias: vec![0.0; k],
        };
        let keep = (1.0 - options.dropout).clamp(0.05, 1.0);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut activations = vec![0.0f32; h];
        let mut kept = vec![1.0f32; h];
        let mut grad = vec![0.0f32; k];
        let mut back = vec![0.0f32; h];
        for epoch in 0..options.epochs {
            rng.shuffle(&mut order);
            let lr = options.learning_rate / (1.0 + options.decay * epoch as f32);
            for &i in &order {
                let x = &xs[i];
                model.activations(x, &mut activations);
                if keep < 1.0 {
                    for (scale, a) in kept.iter_mut().zip(activations.iter_mut()) {
                        *scale = if rng.unit() < keep { 1.0 / keep } else { 0.0 };
                        *a *= *scale;
                    }
                }
                model.output_scores(&activations, &mut grad);
                softmax(&mut grad);
                grad[ys[i] as usize] -= 1.0;
                back.iter_mut().for_each(|b| *b = 0.0);
                for (c, g) in grad.iter().enumerate() {
                    let row = &mut model.output[c * h..(c + 1) * h];
                    for ((w, b), a) in row.iter_mut().zip(back.iter_mut()).zip(&activations) {
                        *b += g * *w;
                        *w -= lr * g * a;
                    }
                    model.output_bias[c] -= lr * g;
                }
                // Through the rectifier and the dropout mask: units that were off pass nothing.
                for ((b, a), scale) in back.iter_mut().zip(&activations).zip(&kept) {
                    *b = if *a > 0.0 { *b * scale } else { 0.0 };
                }
                for (bias, b) in model.input_bias.iter_mut().zip(&back) {
                    *bias -= lr * b;
                }
                for &(j, v) in x {
                    let row = &mut model.input[j as usize * h..(j as usize + 1) * h];
                    let step = lr * v;
                    for (w, b) in row.iter_mut().zip(&back) {
                        *w -= step * b;
                    }
                }
            }
        }
        model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
        assert_eq!(dot(&[], &[]), 0.0);
    }

    /// Exclusive or: no linear model separates it; one hidden layer does.
    #[test]
    fn learns_what_a_linear_model_cannot_and_is_deterministic() {
        let xs: Vec<SparseVector> = vec![vec![], vec![(0, 1.0)], vec![(1, 1.0)], vec![(0, 1.0), (1, 1.0)]];
        let ys = vec![0, 1, 1, 0];
        let options = NetworkOptions {
            hidden: 16,
            epochs: 300,
            dropout: 0.0,
            decay: 0.0,
            ..NetworkOptions::default()
        };
        let a = NetworkModel::train(&xs, &ys, 2, 2, &options);
        let b = NetworkModel::train(&xs, &ys, 2, 2, &options);
        for (x, y) in xs.iter().zip(&ys) {
            let mut s = [0.0; 2];
            a.scores_into(x, &mut s);
            let best = usize::from(s[1] > s[0]);
            assert_eq!(best, *y as usize, "{x:?}");
        }
        assert_eq!(a.input, b.input);
        assert_eq!(a.output, b.output);
    }
}
