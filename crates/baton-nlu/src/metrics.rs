//! Scores of predictions against gold labels: accuracy, macro-averaged F1, out-of-scope recall.
//! Pure functions over (gold, predicted) pairs; `None` stands for out of scope.

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

#[cfg(test)]
mod tests {
    use super::*;

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
