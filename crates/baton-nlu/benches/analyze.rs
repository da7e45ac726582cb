//! Time to analyse one message (language + intent + entities + sentiment) with the demo
//! configuration, single-threaded. Target: median under 100 µs.

use baton_nlu::analyzer::DEMO_NLU_TOML;
use baton_nlu::{Analyzer, NluConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use time::macros::date;

#[derive(serde::Deserialize)]
struct Wrapper {
    nlu: NluConfig,
}

fn analyze(c: &mut Criterion) {
    let config = toml::from_str::<Wrapper>(DEMO_NLU_TOML)
        .map(|w| w.nlu)
        .unwrap_or_else(|e| panic!("demo: {e}"));
    let analyzer = Analyzer::new(&config).unwrap_or_else(|e| panic!("demo: {e}"));
    let today = date!(2026 - 03 - 10);
    let messages = [
        ("short", "hola"),
        (
            "typical",
            "I was charged twice for order #54192 on March 3, can you refund me?",
        ),
        (
            "long",
            "Hi, I ordered the trail jacket and the summit backpack last Friday (order 54192), paid $189.50 with my \
             card, and today I noticed two identical charges on my statement. I've emailed sarah@example.com twice and \
             called (415) 555-2671 but nobody answers. This is really frustrating, please fix it or refund me!!",
        ),
        (
            "spanish",
            "Me cobraron dos veces el pedido 54192 el 3 de marzo, quiero un reembolso por favor",
        ),
    ];
    let mut group = c.benchmark_group("analyze");
    for (name, text) in messages {
        group.bench_function(name, |b| {
            b.iter(|| analyzer.analyze(black_box(text), Some("en"), today))
        });
    }
    group.finish();
}

criterion_group!(benches, analyze);
criterion_main!(benches);
