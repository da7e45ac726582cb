//! `baton nlu eval`: trains the intent model on one CSV file and scores it on another.
//! Reading files and timing live here; the model and the metrics are in `baton-nlu`.

use anyhow::{bail, Context};
use baton_nlu::metrics::{score, Scores};
use baton_nlu::{Analyzer, IntentModel, TrainingExample, TrainingOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Training examples: CSV with a header and the columns `text,category`.
    #[arg(long)]
    train: PathBuf,
    /// Test examples, same layout.
    #[arg(long)]
    test: PathBuf,
    /// The category that marks out-of-scope examples.
    #[arg(long)]
    oos_label: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Training passes over the data (default: the model's own).
    #[arg(long)]
    epochs: Option<usize>,
    /// First-epoch step size (default: the model's own).
    #[arg(long)]
    learning_rate: Option<f32>,
    /// Step size decay per epoch (default: the model's own).
    #[arg(long)]
    decay: Option<f32>,
    /// L2 penalty per example (default: the model's own).
    #[arg(long)]
    l2: Option<f32>,
    /// Train this many times, each with another shuffling seed, and report the mean, the
    /// lowest and the highest accuracy (one seed's figure can mislead).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    seeds: u32,
}

/// One training seed's figures, when several were asked for.
#[derive(Debug, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Accuracy over several seeds.
#[derive(Debug, Serialize)]
pub struct SeedSummary {
    pub runs: Vec<SeedRun>,
    pub accuracy_mean: f64,
    pub accuracy_min: f64,
    pub accuracy_max: f64,
}

/// What `baton nlu eval` reports.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub train_examples: usize,
    pub test_examples: usize,
    pub intents: usize,
    pub features: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy: Option<f64>,
    /// In-scope accuracy if nothing were rejected (the best in-scope intent taken as it is):
    /// what rejection costs is the difference to `in_scope_accuracy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy_without_rejection: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_scope_recall: Option<f64>,
    pub out_of_scope_threshold: f32,
    pub training_seconds: f64,
    pub latency_median_us: f64,
    pub latency_p99_us: f64,
    /// With `--seeds N` above 1: every seed's accuracy and their mean, min and max (the
    /// figures above are the first seed's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<SeedSummary>,
}

/// Reads `text,category` rows. Errors name the file and the line.
pub fn read_examples(path: &Path, oos_label: Option<&str>) -> anyhow::Result<Vec<TrainingExample>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: reading the header", path.display()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(text_col), Some(category_col)) = (column("text"), column("category")) else {
        bail!(
            "{}: line 1: the header must name the columns `text` and `category`",
            path.display()
        );
    };
    let mut examples = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: malformed CSV", path.display()))?;
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let text = record.get(text_col).map(str::trim).unwrap_or_default();
        let category = record.get(category_col).map(str::trim).unwrap_or_default();
        if text.is_empty() {
            bail!("{}: line {line}: empty `text`", path.display());
        }
        if category.is_empty() {
            bail!("{}: line {line}: empty `category`", path.display());
        }
        let intent = (Some(category) != oos_label).then(|| category.to_owned());
        examples.push(TrainingExample {
            text: text.to_owned(),
            intent,
        });
    }
    if examples.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(examples)
}

pub fn eval(args: &EvalArgs) -> anyhow::Result<EvalReport> {
    let oos = args.oos_label.as_deref();
    let train = read_examples(&args.train, oos)?;
    let test = read_examples(&args.test, oos)?;
    let first_seed = TrainingOptions::default().sgd.seed;
    let mut report = eval_seed(args, &train, &test, first_seed)?;
    if args.seeds > 1 {
        let mut runs = vec![SeedRun {
            seed: first_seed,
            accuracy: report.accuracy,
            macro_f1: report.macro_f1,
        }];
        for k in 1..u64::from(args.seeds) {
            let seed = first_seed.wrapping_add(k);
            let other = eval_seed(args, &train, &test, seed)?;
            runs.push(SeedRun {
                seed,
                accuracy: other.accuracy,
                macro_f1: other.macro_f1,
            });
        }
        let accuracies: Vec<f64> = runs.iter().map(|r| r.accuracy).collect();
        report.seeds = Some(SeedSummary {
            accuracy_mean: accuracies.iter().sum::<f64>() / accuracies.len() as f64,
            accuracy_min: accuracies.iter().copied().fold(f64::INFINITY, f64::min),
            accuracy_max: accuracies.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            runs,
        });
    }
    Ok(report)
}

/// Trains with shuffling seed `seed` and scores on `test`.
fn eval_seed(
    args: &EvalArgs,
    train: &[TrainingExample],
    test: &[TrainingExample],
    seed: u64,
) -> anyhow::Result<EvalReport> {
    let oos = args.oos_label.as_deref();
    let started = Instant::now();
    let mut options = TrainingOptions::default();
    options.sgd.seed = seed;
    if let Some(epochs) = args.epochs {
        options.sgd.epochs = epochs;
    }
    if let Some(rate) = args.learning_rate {
        options.sgd.learning_rate = rate;
    }
    if let Some(decay) = args.decay {
        options.sgd.decay = decay;
    }
    if let Some(l2) = args.l2 {
        options.sgd.l2 = l2;
    }
    let model = IntentModel::train(train, &options).with_context(|| format!("training on {}", args.train.display()))?;
    let training_seconds = started.elapsed().as_secs_f64();
    let (intents, features, threshold) = (model.intents().count(), model.feature_count(), model.threshold());
    // Latency is that of the whole analysis (language, intent, entities, sentiment).
    let analyzer = Analyzer::with_intent_model(model, "en")?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut latencies = Vec::with_capacity(test.len());
    let mut predicted = Vec::with_capacity(test.len());
    let (mut in_scope, mut right_without_rejection) = (0usize, 0usize);
    for example in test {
        let started = Instant::now();
        let prediction = analyzer.analyze(&example.text, None, today).intent;
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        if let Some(gold) = &example.intent {
            in_scope += 1;
            if prediction.top.first().is_some_and(|p| &p.intent == gold) {
                right_without_rejection += 1;
            }
        }
        // Without an out-of-scope label every test example is in scope: score the top intent.
        let label = if oos.is_some() {
            prediction.intent().map(|i| i.intent.clone())
        } else {
            prediction.top.first().map(|i| i.intent.clone())
        };
        predicted.push(label);
    }
    let pairs: Vec<(Option<&str>, Option<&str>)> = test
        .iter()
        .zip(&predicted)
        .map(|(e, p)| (e.intent.as_deref(), p.as_deref()))
        .collect();
    let Scores {
        accuracy,
        macro_f1,
        in_scope_accuracy,
        out_of_scope_recall,
        ..
    } = score(&pairs);
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
    Ok(EvalReport {
        train_examples: train.len(),
        test_examples: test.len(),
        intents,
        features,
        accuracy,
        macro_f1,
        in_scope_accuracy,
        in_scope_accuracy_without_rejection: (oos.is_some() && in_scope > 0)
            .then(|| right_without_rejection as f64 / in_scope as f64),
        out_of_scope_recall,
        out_of_scope_threshold: threshold,
        training_seconds,
        latency_median_us: at(0.5),
        latency_p99_us: at(0.99),
        seeds: None,
    })
}

pub fn print(report: &EvalReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    println!(
        "examples: {} train, {} test; {} intents; {} features",
        report.train_examples, report.test_examples, report.intents, report.features
    );
    println!("accuracy: {}", pct(report.accuracy));
    println!("macro-F1: {}", pct(report.macro_f1));
    if let Some(a) = report.in_scope_accuracy_without_rejection {
        println!("in-scope accuracy without rejection: {}", pct(a));
    }
    if let Some(a) = report.in_scope_accuracy {
        println!("in-scope accuracy: {}", pct(a));
    }
    if let Some(r) = report.out_of_scope_recall {
        println!("out-of-scope recall: {}", pct(r));
    }
    println!("out-of-scope threshold: {:.3}", report.out_of_scope_threshold);
    println!("training: {:.2} s", report.training_seconds);
    if let Some(seeds) = &report.seeds {
        let each: Vec<String> = seeds.runs.iter().map(|r| pct(r.accuracy)).collect();
        println!(
            "accuracy over {} seeds: mean {}, min {}, max {} ({})",
            seeds.runs.len(),
            pct(seeds.accuracy_mean),
            pct(seeds.accuracy_min),
            pct(seeds.accuracy_max),
            each.join(", ")
        );
    }
    println!(
        "latency per message: median {:.1} µs, p99 {:.1} µs",
        report.latency_median_us, report.latency_p99_us
    );
    Ok(())
}

/// Runs `baton nlu eval`.
pub fn run_eval(args: EvalArgs) -> anyhow::Result<()> {
    let report = eval(&args)?;
    print(&report, args.json)
}
