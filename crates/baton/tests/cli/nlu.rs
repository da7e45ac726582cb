//! `baton nlu eval` on BANKING77 (when ../shared/data is present) and on malformed files.

use crate::common::{baton, skipped, TempDir};
use std::path::PathBuf;

fn banking77() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/banking77");
    dir.join("train.csv").exists().then_some(dir)
}

/// The TF-IDF + logistic regression test accuracy in shared/data/BASELINES.md.
const BASELINE_ACCURACY: f64 = 0.9146;
/// The lead the model must keep: the mean over five training seeds at least this (measured
/// 2026-11-30: mean 92.44%, seeds 92.18% to 92.56%, so the margin below the measured mean is
/// 0.44 points, wider than the seeds' whole spread of 0.38: one seed's luck cannot pass the
/// test nor bad luck fail it; a real loss of accuracy does).
const MEAN_FLOOR: f64 = 0.9200;

#[test]
fn banking77_accuracy_leads_the_logistic_regression_baseline() {
    let Some(dir) = banking77() else {
        skipped(
            "banking77_accuracy_leads_the_logistic_regression_baseline",
            "../shared/data/banking77 is absent; the BANKING77 accuracy floor was not checked",
        );
        return;
    };
    let output = baton()
        .args(["nlu", "eval", "--json", "--seeds", "5", "--train"])
        .arg(dir.join("train.csv"))
        .arg("--test")
        .arg(dir.join("test.csv"))
        .output()
        .expect("run baton nlu eval");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    assert_eq!(report["train_examples"], 10_003);
    assert_eq!(report["test_examples"], 3_080);
    assert_eq!(report["intents"], 77);
    let seeds = &report["seeds"];
    assert_eq!(seeds["runs"].as_array().map(Vec::len), Some(5), "{seeds}");
    let mean = seeds["accuracy_mean"].as_f64().expect("mean accuracy");
    assert!(
        mean >= MEAN_FLOOR,
        "mean accuracy over 5 seeds {mean} is below the floor {MEAN_FLOOR}: {seeds}"
    );
    let min = seeds["accuracy_min"].as_f64().expect("min accuracy");
    assert!(
        min > BASELINE_ACCURACY,
        "every seed beats the logistic-regression baseline {BASELINE_ACCURACY}; the worst: {min}"
    );
    assert!(report["macro_f1"].as_f64().expect("macro_f1") > 0.9);
    // Confidences mean what they say on this test split: measured 0.7 points.
    let calibration = report["calibration"]["expected_error"].as_f64().expect("calibration");
    assert!(calibration < 0.02, "expected calibration error {calibration}");
}

#[test]
fn malformed_files_are_errors_naming_file_and_line() {
    let dir = TempDir::new("nlu");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "text,category\nwhere is my order,order_status\nrefund please,refund\nhello,greeting\n",
    )
    .expect("write");
    let cases = [
        ("no-header.csv", "words,label\nhi,greeting\n", "line 1"),
        ("empty-text.csv", "text,category\nhi,greeting\n  ,refund\n", "line 3"),
        (
            "empty-category.csv",
            "text,category\nhi,greeting\nrefund please,\n",
            "line 3",
        ),
        (
            "ragged.csv",
            "text,category\nhi,greeting\n\"unclosed,refund\nx\n",
            "ragged.csv",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        let output = baton()
            .args(["nlu", "eval", "--train"])
            .arg(&path)
            .arg("--test")
            .arg(&good)
            .output()
            .expect("run");
        assert!(!output.status.success(), "{name} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(name) && stderr.contains(expected), "{name}: {stderr}");
    }
    let missing = baton()
        .args(["nlu", "eval", "--train", "/nonexistent.csv", "--test"])
        .arg(&good)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.csv"));
}

#[test]
fn out_of_scope_rows_are_scored_as_out_of_scope() {
    let dir = TempDir::new("nlu-oos");
    let out_of_scope: (&str, &[&str]) = (
        "oos",
        &[
            "what's the weather",
            "tell me a joke",
            "who won the game",
            "play some music",
            "capital of france",
            "bake a cake",
        ],
    );
    let train = examples_csv(SHOP_PHRASES[..2].iter().chain([&out_of_scope]));
    let test =
        "text,category\nwhere is my package,order_status\ni'd like a refund,refund\nwhat is the weather tomorrow,oos\n";
    std::fs::write(dir.path().join("train.csv"), train).expect("write");
    std::fs::write(dir.path().join("test.csv"), test).expect("write");
    let output = baton()
        .args(["nlu", "eval", "--json", "--oos-label", "oos", "--train"])
        .arg(dir.path().join("train.csv"))
        .arg("--test")
        .arg(dir.path().join("test.csv"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["intents"], 2, "the out-of-scope label is not an intent");
    assert_eq!(report["out_of_scope_recall"], 1.0, "the weather question is rejected");
    assert_eq!(report["in_scope_accuracy"], 1.0, "and the shop's questions are not");
}

/// The open-set split of `scripts/openset-split`, made here: BANKING77's intents sorted, every
/// fourth unknown; 20 training examples from each of the first five unknown ones labelled
/// `oos`; the test keeps the known intents and, as `oos`, the 14 unknown intents never trained on.
fn open_set_split(source: &std::path::Path, out: &std::path::Path) {
    let read = |name: &str| -> Vec<(String, String)> {
        csv::Reader::from_path(source.join(name))
            .expect("csv")
            .records()
            .map(|r| {
                let r = r.expect("row");
                (r[0].to_owned(), r[1].to_owned())
            })
            .collect()
    };
    let (train, test) = (read("train.csv"), read("test.csv"));
    let mut intents: Vec<&str> = train.iter().map(|(_, c)| c.as_str()).collect();
    intents.sort_unstable();
    intents.dedup();
    let unknown: Vec<&str> = intents.iter().skip(3).step_by(4).copied().collect();
    let lenders = &unknown[..5];
    let mut taken = std::collections::HashMap::new();
    let mut train_out = csv::Writer::from_path(out.join("train.csv")).expect("write");
    train_out.write_record(["text", "category"]).expect("header");
    for (text, category) in &train {
        if !unknown.contains(&category.as_str()) {
            train_out.write_record([text, category]).expect("row");
        } else if lenders.contains(&category.as_str()) {
            let n = taken.entry(category.clone()).or_insert(0);
            if *n < 20 {
                *n += 1;
                train_out.write_record([text.as_str(), "oos"]).expect("row");
            }
        }
    }
    train_out.flush().expect("flush");
    let mut test_out = csv::Writer::from_path(out.join("test.csv")).expect("write");
    test_out.write_record(["text", "category"]).expect("header");
    for (text, category) in &test {
        if !unknown.contains(&category.as_str()) {
            test_out.write_record([text, category]).expect("row");
        } else if !lenders.contains(&category.as_str()) {
            test_out.write_record([text.as_str(), "oos"]).expect("row");
        }
    }
    test_out.flush().expect("flush");
}

/// Rejection on an open set: at most 3 points of in-scope accuracy given up, and at least a
/// third of the messages of intents never seen rejected (measured: 2.63 points, 45.7%).
#[test]
fn open_set_rejection_costs_little_accuracy_and_rejects_unknown_intents() {
    let Some(source) = banking77() else {
        skipped(
            "open_set_rejection_costs_little_accuracy_and_rejects_unknown_intents",
            "../shared/data/banking77 is absent; out-of-scope rejection on an open set was not checked",
        );
        return;
    };
    let dir = TempDir::new("nlu-openset");
    open_set_split(&source, dir.path());
    let output = baton()
        .args(["nlu", "eval", "--json", "--oos-label", "oos", "--train"])
        .arg(dir.path().join("train.csv"))
        .arg("--test")
        .arg(dir.path().join("test.csv"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["intents"], 58);
    assert_eq!(report["test_examples"], 2_880);
    let with = report["in_scope_accuracy"].as_f64().expect("with rejection");
    let without = report["in_scope_accuracy_without_rejection"].as_f64().expect("without");
    let recall = report["out_of_scope_recall"].as_f64().expect("recall");
    assert!(
        without - with <= 0.03,
        "rejection cost {:.2} points",
        (without - with) * 100.0
    );
    assert!(
        recall >= 0.33,
        "only {:.1}% of never-seen intents rejected",
        recall * 100.0
    );
}

#[test]
fn seeds_report_every_run_with_the_mean_min_and_max() {
    let dir = TempDir::new("nlu-seeds");
    let file = small_examples(&dir);
    let output = baton()
        .args(["nlu", "eval", "--json", "--seeds", "3", "--train"])
        .arg(&file)
        .arg("--test")
        .arg(&file)
        .output()
        .expect("run baton nlu eval");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    let seeds = &report["seeds"];
    let runs = seeds["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 3);
    let accuracies: Vec<f64> = runs.iter().map(|r| r["accuracy"].as_f64().expect("accuracy")).collect();
    let mean = accuracies.iter().sum::<f64>() / 3.0;
    assert!((seeds["accuracy_mean"].as_f64().expect("mean") - mean).abs() < 1e-12);
    let min = accuracies.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(seeds["accuracy_min"].as_f64(), Some(min));
    assert_ne!(runs[0]["seed"], runs[1]["seed"], "each run has its own seed");
    // Zero seeds is refused by name.
    let zero = baton()
        .args(["nlu", "eval", "--seeds", "0", "--train"])
        .arg(&file)
        .arg("--test")
        .arg(&file)
        .output()
        .expect("run");
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--seeds"));
}

/// Six phrasings each of three intents of a shop.
const SHOP_PHRASES: [(&str, &[&str]); 3] = [
    (
        "order_status",
        &[
            "where is my order",
            "track my package",
            "has my order shipped",
            "when will my parcel arrive",
            "order status",
            "where's my delivery",
        ],
    ),
    (
        "refund",
        &[
            "i want a refund",
            "give me my money back",
            "refund my purchase",
            "how do i get reimbursed",
            "refund please",
            "return my money",
        ],
    ),
    (
        "greeting",
        &["hello", "hi there", "good morning", "hey", "good evening", "hiya"],
    ),
];

/// `text,category` rows of these groups of phrasings.
fn examples_csv<'a>(groups: impl Iterator<Item = &'a (&'a str, &'a [&'a str])>) -> String {
    let mut rows = String::from("text,category\n");
    for (category, phrases) in groups {
        for p in phrases.iter() {
            rows.push_str(&format!("{p},{category}\n"));
        }
    }
    rows
}

/// A small labelled file for the commands that train: three intents, six phrasings each.
fn small_examples(dir: &TempDir) -> PathBuf {
    let file = dir.path().join("examples.csv");
    std::fs::write(&file, examples_csv(SHOP_PHRASES.iter())).expect("write");
    file
}

/// The sweep reads only the training file, writes its table, and makes the same choice when
/// run again (training times aside, the table is the same).
#[test]
fn the_sweep_writes_its_table_and_chooses_the_same_again() {
    let dir = TempDir::new("nlu-sweep");
    let file = small_examples(&dir);
    let run = |out: &str| {
        let output = baton()
            .args(["nlu", "sweep", "--folds", "3", "--train"])
            .arg(&file)
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .expect("run baton nlu sweep");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        let written = std::fs::read_to_string(dir.path().join(out)).expect("table written");
        assert_eq!(printed, written, "the file holds what was printed");
        // Every column but the last (training time).
        let without_times: Vec<String> = written
            .lines()
            .map(|l| match l.rfind(" | ") {
                Some(i) if l.starts_with("| ") => l[..i].to_owned(),
                _ => l.to_owned(),
            })
            .collect();
        without_times
    };
    let first = run("first.md");
    let second = run("second.md");
    assert_eq!(first, second);
    assert!(first.iter().any(|l| l.starts_with("chosen: ")), "{first:?}");
    let rows = first
        .iter()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
        .count();
    assert!(rows > 10, "a header and every candidate: {first:?}");
    assert!(
        first.iter().any(|l| l.contains("linear(") && !l.contains("network(")),
        "the logistic regression alone is a candidate"
    );
    assert!(first.iter().any(|l| l.starts_with("| **")), "the chosen row is marked");
    let one_fold = baton()
        .args(["nlu", "sweep", "--folds", "1", "--train"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!one_fold.status.success());
    assert!(String::from_utf8_lossy(&one_fold.stderr).contains("--folds"));
}

/// The report says which model was trained and how well its confidences are calibrated: the
/// reliability table's bins hold every in-scope test message once.
#[test]
fn eval_reports_the_model_and_its_calibration() {
    let dir = TempDir::new("nlu-calibration");
    let file = small_examples(&dir);
    for (model, name) in [("linear", "linear("), ("network", "network("), ("ensemble", " + ")] {
        let output = baton()
            .args(["nlu", "eval", "--json", "--model", model, "--train"])
            .arg(&file)
            .arg("--test")
            .arg(&file)
            .output()
            .expect("run baton nlu eval");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
        assert!(
            report["model"].as_str().is_some_and(|m| m.contains(name)),
            "{}",
            report["model"]
        );
        let calibration = &report["calibration"];
        let error = calibration["expected_error"].as_f64().expect("expected error");
        assert!((0.0..=1.0).contains(&error), "{calibration}");
        let bins = calibration["bins"].as_array().expect("bins");
        let counted: u64 = bins.iter().map(|b| b["count"].as_u64().expect("count")).sum();
        assert_eq!(counted, 18, "every test message in one bin: {calibration}");
        assert_eq!(report["accuracy"], 1.0, "{model} learns its own training file");
    }
    // Settings the network cannot train with are refused by name.
    for (flag, value) in [
        ("--dropout", "1.0"),
        ("--dropout", "-0.1"),
        ("--dropout", "NaN"),
        ("--hidden", "0"),
        ("--hidden", "100000"),
    ] {
        let output = baton()
            .args(["nlu", "eval", &format!("{flag}={value}"), "--train"])
            .arg(&file)
            .arg("--test")
            .arg(&file)
            .output()
            .expect("run baton nlu eval");
        assert!(!output.status.success(), "{flag} {value} accepted");
        assert!(String::from_utf8_lossy(&output.stderr).contains(flag), "{flag} {value}");
    }
}
