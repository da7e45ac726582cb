//! `baton nlu eval`: trains the intent model on one CSV file and scores it on another.
//! `baton nlu sweep`: chooses the classifier by cross-validation on the training file alone.
//! Reading files, timing and printing live here; the model, the metrics and the sweep are in
//! `baton-nlu`.

use anyhow::{bail, Context};
use baton_nlu::classifier::{ClassifierOptions, SgdOptions};
use baton_nlu::metrics::{calibration, score, Calibration, Scores};
use baton_nlu::network::NetworkOptions;
use baton_nlu::tuning::{self, SweepRow};
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
    /// Which classifier: the logistic regression, the network, or both averaged (default:
    /// the one `baton nlu sweep` chose, both).
    #[arg(long, value_enum)]
    model: Option<ModelChoice>,
    /// The logistic regression's training passes over the data (default: the model's own).
    #[arg(long)]
    epochs: Option<usize>,
    /// The logistic regression's first-epoch step size (default: the model's own).
    #[arg(long)]
    learning_rate: Option<f32>,
    /// The logistic regression's step size decay per epoch (default: the model's own).
    #[arg(long)]
    decay: Option<f32>,
    /// The logistic regression's L2 penalty per example (default: the model's own).
    #[arg(long)]
    l2: Option<f32>,
    /// The network's hidden units, 1 to 4096 (default: the model's own).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4096))]
    hidden: Option<u16>,
    /// The network's training passes over the data (default: the model's own).
    #[arg(long)]
    network_epochs: Option<usize>,
    /// The share of the network's hidden units dropped at each training step (default: the
    /// model's own), from 0 up to 0.9.
    #[arg(long, value_parser = dropout_share)]
    dropout: Option<f32>,
    /// Train this many times, each with another shuffling seed, and report the mean, the
    /// lowest and the highest accuracy (one seed's figure can mislead).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    seeds: u32,
}

/// A dropout share: a number from 0 to 0.9 (dropping more would leave the layer too few units
/// to learn from).
fn dropout_share(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(share) if (0.0..=0.9).contains(&share) => Ok(share),
        _ => Err(format!("`{text}` is not a share from 0 to 0.9")),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModelChoice {
    Linear,
    Network,
    Ensemble,
}

/// `baton nlu sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    /// Training examples: CSV with a header and the columns `text,category`. Nothing else is
    /// read: the sweep holds out parts of this file in turn.
    #[arg(long)]
    train: PathBuf,
    /// The category that marks out-of-scope examples (left out of the comparison).
    #[arg(long)]
    oos_label: Option<String>,
    /// Folds of the cross-validation.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=20))]
    folds: u32,
    /// Also write the table (markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
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
    /// The classifier trained, as the sweep's table names it.
    pub model: String,
    /// How well the top intent's confidence matches how often it is right, over the in-scope
    /// test examples (10 bins).
    pub calibration: Calibration,
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
    let first_seed = TrainingOptions::default().classifier.seed();
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

/// The classifier `eval` trains: the default's, with what the flags change.
fn classifier_options(args: &EvalArgs) -> ClassifierOptions {
    let default = TrainingOptions::default().classifier;
    let (mut linear, mut network, default_choice) = match default {
        ClassifierOptions::Linear(linear) => (linear, NetworkOptions::default(), ModelChoice::Linear),
        ClassifierOptions::Network(network) => (SgdOptions::default(), network, ModelChoice::Network),
        ClassifierOptions::Ensemble { linear, network } => (linear, network, ModelChoice::Ensemble),
    };
    if let Some(epochs) = args.epochs {
        linear.epochs = epochs;
    }
    if let Some(rate) = args.learning_rate {
        linear.learning_rate = rate;
    }
    if let Some(decay) = args.decay {
        linear.decay = decay;
    }
    if let Some(l2) = args.l2 {
        linear.l2 = l2;
    }
    if let Some(hidden) = args.hidden {
        network.hidden = usize::from(hidden);
    }
    if let Some(epochs) = args.network_epochs {
        network.epochs = epochs;
    }
    if let Some(dropout) = args.dropout {
        network.dropout = dropout;
    }
    match args.model.unwrap_or(default_choice) {
        ModelChoice::Linear => ClassifierOptions::Linear(linear),
        ModelChoice::Network => ClassifierOptions::Network(network),
        ModelChoice::Ensemble => ClassifierOptions::Ensemble { linear, network },
    }
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
    let options = TrainingOptions {
        classifier: classifier_options(args).with_seed(seed),
        ..TrainingOptions::default()
    };
    let model_name = options.classifier.to_string();
    let model = IntentModel::train(train, &options).with_context(|| format!("training on {}", args.train.display()))?;
    let training_seconds = started.elapsed().as_secs_f64();
    let (intents, features, threshold) = (model.intents().count(), model.feature_count(), model.threshold());
    // Latency is that of the whole analysis (language, intent, entities, sentiment).
    let analyzer = Analyzer::with_intent_model(model, "en")?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut latencies = Vec::with_capacity(test.len());
    let mut predicted = Vec::with_capacity(test.len());
    let (mut in_scope, mut right_without_rejection) = (0usize, 0usize);
    let mut confidences = Vec::with_capacity(test.len());
    for example in test {
        let started = Instant::now();
        let prediction = analyzer.analyze(&example.text, None, today).intent;
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        if let Some(gold) = &example.intent {
            in_scope += 1;
            let top = prediction.top.first();
            let right = top.is_some_and(|p| &p.intent == gold);
            if right {
                right_without_rejection += 1;
            }
            confidences.push((top.map(|p| p.confidence).unwrap_or(0.0), right));
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
        model: model_name,
        calibration: calibration(&confidences, 10),
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
    println!("model: {}", report.model);
    println!("training: {:.2} s", report.training_seconds);
    if report.calibration.bins.is_empty() {
        println!("calibration: no in-scope test messages to measure it on");
    } else {
        println!(
            "calibration of the top intent's confidence: expected error {:.2} points, largest bin gap {:.2} points",
            report.calibration.expected_error * 100.0,
            report.calibration.max_error * 100.0
        );
        println!("| confidence | messages | mean confidence | accuracy |");
        println!("| --- | --- | --- | --- |");
        for bin in &report.calibration.bins {
            println!(
                "| {:.1} to {:.1} | {} | {} | {} |",
                bin.low,
                bin.high,
                bin.count,
                pct(bin.confidence),
                pct(bin.accuracy)
            );
        }
    }
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

/// The sweep's table in markdown, the chosen row marked.
pub fn sweep_table(sweep: &tuning::Sweep, folds: u32, examples: usize) -> String {
    let mut out = format!(
        "Cross-validation: {folds} folds over {examples} training examples (every {folds}th example of each intent held out in turn).\n\n| candidate | accuracy | per fold | training s (all folds) |\n| --- | --- | --- | --- |\n"
    );
    for (i, row) in sweep.rows.iter().enumerate() {
        out.push_str(&sweep_line(row, i == sweep.chosen));
    }
    out.push_str(&format!("\nchosen: {}\n", sweep.rows[sweep.chosen].options));
    out
}

fn sweep_line(row: &SweepRow, chosen: bool) -> String {
    let folds: Vec<String> = row
        .folds
        .iter()
        .map(|f| f.map_or_else(|| "—".to_owned(), |f| format!("{:.2}", f * 100.0)))
        .collect();
    let mark = if chosen { "**" } else { "" };
    format!(
        "| {mark}{}{mark} | {mark}{:.2}%{mark} | {} | {:.1} |\n",
        row.options,
        row.accuracy * 100.0,
        folds.join(" · "),
        row.training_seconds
    )
}

/// Runs `baton nlu sweep`.
pub fn run_sweep(args: SweepArgs) -> anyhow::Result<()> {
    let examples = read_examples(&args.train, args.oos_label.as_deref())?;
    let grid = tuning::SweepGrid::default();
    let total = grid.len();
    let mut done = 0;
    let sweep = tuning::sweep(&examples, &grid, args.folds as usize, |row| {
        done += 1;
        eprintln!("[{done}/{total}] {:.2}%  {}", row.accuracy * 100.0, row.options);
    })
    .with_context(|| format!("cross-validating on {}", args.train.display()))?;
    let table = sweep_table(&sweep, args.folds, examples.len());
    if let Some(path) = &args.out {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{table}");
    Ok(())
}
