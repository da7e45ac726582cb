//! Scores of predictions against gold labels: accuracy, macro-averaged F1, out-of-scope recall,
//! and how well confidences are calibrated. Pure functions over (gold, predicted) pairs, `None`
//! standing for out of scope, and over (confidence, right) pairs.

use std::collections::BTreeMap;

/// Scores of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub examples: usize,
    /// Share of examples whose prediction equals the gold label (out of scope included).
    pub accuracy: f64,
    /// F1 averaged over the gold labels (out of scope counts as a label when present).
    pub macro_f1: f64,
    /// Of the in-scope examples, the share predicted with the right intent.
    pub in_scope_accuracy: Option<f64>,
    /// Of the out-of-scope examples, the share predicted out of scope.
    pub out_of_scope_recall: Option<f64>,
}

/// Scores `pairs` of (gold, predicted).
pub fn score(pairs: &[(Option<&str>, Option<&str>)]) -> Scores {
    let n = pairs.len();
    let correct = pairs.iter().filter(|(g, p)| g == p).count();
    let mut counts: BTreeMap<Option<&str>, (usize, usize, usize)> = BTreeMap::new(); // (tp, fp, fn)
    for (gold, predicted) in pairs {
        counts.entry(*gold).or_default();
        if gold == predicted {
            counts.entry(*gold).or_default().0 += 1;
        } else {
            counts.entry(*gold).or_default().2 += 1;
            counts.entry(*predicted).or_default().1 += 1;
        }
    }
    let gold_labels: Vec<Option<&str>> = {
        let mut labels: Vec<Option<&str>> = pairs.iter().map(|(g, _)| *g).collect();
        labels.sort();
        labels.dedup();
        labels
    };
    let f1s: Vec<f64> = gold_labels
        .iter()
        .map(|label| {
            let (tp, fp, fn_) = counts.get(label).copied().unwrap_or_default();
            if tp == 0 {
                0.0
            } else {
                let precision = tp as f64 / (tp + fp) as f64;
                let recall = tp as f64 / (tp + fn_) as f64;
                2.0 * precision * recall / (precision + recall)
            }
        })
        .collect();
    let share = |num: usize, den: usize| (den > 0).then(|| num as f64 / den as f64);
    let in_scope: Vec<_> = pairs.iter().filter(|(g, _)| g.is_some()).collect();
    let oos: Vec<_> = pairs.iter().filter(|(g, _)| g.is_none()).collect();
    Scores {
        examples: n,
        accuracy: share(correct, n).unwrap_or(0.0),
        macro_f1: if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f64>() / f1s.len() as f64
        },
        in_scope_accuracy: if oos.is_empty() {
            None
        } else {
            share(in_scope.iter().filter(|(g, p)| g == p).count(), in_scope.len())
        },
        out_of_scope_recall: share(oos.iter().filter(|(_, p)| p.is_none()).count(), oos.len()),
    }
}

/// One bin of a reliability table: the predictions whose confidence fell in `[low, high)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReliabilityBin {
    pub low: f64,
    pub high: f64,
    pub count: usize,
    /// Mean confidence of the bin's predictions.
    pub confidence: f64,
    /// Share of the bin's predictions that were right.
    pub accuracy: f64,
}

/// How far confidences are from the accuracy they claim.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Expected calibration error: the gap between confidence and accuracy in each bin,
    /// weighted by the bin's share of predictions (0 is perfect).
    pub expected_error: f64,
    /// The largest gap in any bin that holds at least 1% of the predictions.
    pub max_error: f64,
    /// Bins of equal width over [0, 1]; empty bins are left out.
    pub bins: Vec<ReliabilityBin>,
}

/// Calibration of `predictions` of (top confidence, whether the top answer was right), over
/// `bins` equal-width bins (at least 1). A confidence that is not a number is left out; with
/// nothing left, the bins are empty and the errors 0 (say so rather than call it perfect).
pub fn calibration(predictions: &[(f32, bool)], bins: usize) -> Calibration {
    let bins = bins.max(1);
    let predictions: Vec<(f32, bool)> = predictions.iter().copied().filter(|(c, _)| c.is_finite()).collect();
    // (count, confidence sum, right)
    let mut tally = vec![(0usize, 0.0f64, 0usize); bins];
    for (confidence, right) in &predictions {
        let c = f64::from(confidence.clamp(0.0, 1.0));
        let bin = ((c * bins as f64) as usize).min(bins - 1);
        tally[bin].0 += 1;
        tally[bin].1 += c;
        tally[bin].2 += usize::from(*right);
    }
    let n = predictions.len().max(1) as f64;
    let mut expected_error = 0.0;
    let mut max_error = 0.0f64;
    let mut table = Vec::new();
    for (i, (count, sum, right)) in tally.into_iter().enumerate() {
        if count == 0 {
            continue;
        }
        let confidence = sum / count as f64;
        let accuracy = right as f64 / count as f64;
        let gap = (confidence - accuracy).abs();
        expected_error += gap * count as f64 / n;
        if count as f64 >= n / 100.0 {
            max_error = max_error.max(gap);
        }
        table.push(ReliabilityBin {
            low: i as f64 / bins as f64,
            high: (i + 1) as f64 / bins as f64,
            count,
            confidence,
            accuracy,
        });
    }
    Calibration {
        expected_error,
        max_error,
        bins: table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_of_honest_and_overconfident_predictions() {
        // 0.75 right three times in four: honest.
        let honest = [(0.75, true), (0.75, true), (0.75, true), (0.75, false)];
        let c = calibration(&honest, 10);
        assert!(c.expected_error < 1e-6);
        assert_eq!(c.bins.len(), 1);
        assert_eq!((c.bins[0].low, c.bins[0].high, c.bins[0].count), (0.7, 0.8, 4));
        // 0.95 right half the time: 0.45 too sure.
        let overconfident = [(0.95, true), (0.95, false)];
        let c = calibration(&overconfident, 10);
        assert!((c.expected_error - 0.45).abs() < 1e-6);
        assert!((c.max_error - 0.45).abs() < 1e-6);
        // A confidence of exactly 1 lands in the last bin.
        assert_eq!(calibration(&[(1.0, true)], 10).bins[0].high, 1.0);
        // Nothing to measure: no bins; a confidence that is not a number is left out.
        assert!(calibration(&[], 10).bins.is_empty());
        let c = calibration(&[(f32::NAN, true), (0.75, true)], 10);
        assert_eq!((c.bins.len(), c.bins[0].count), (1, 1));
        assert!(c.expected_error.is_finite());
    }

    #[test]
    fn accuracy_and_macro_f1() {
        let s = score(&[
            (Some("a"), Some("a")),
            (Some("a"), Some("b")),
            (Some("b"), Some("b")),
            (Some("b"), Some("b")),
        ]);
        assert_eq!(s.accuracy, 0.75);
        // a: p=1, r=0.5, f1=2/3; b: p=2/3, r=1, f1=0.8.
        assert!((s.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
        assert_eq!(s.out_of_scope_recall, None);
        assert_eq!(s.in_scope_accuracy, None);
    }

    #[test]
    fn out_of_scope_counts() {
        let s = score(&[
            (None, None),
            (None, Some("a")),
            (Some("a"), Some("a")),
            (Some("a"), None),
        ]);
        assert_eq!(s.out_of_scope_recall, Some(0.5));
        assert_eq!(s.in_scope_accuracy, Some(0.5));
        assert_eq!(s.accuracy, 0.5);
    }
}
