//! Time to find the answer to one customer question in the bundled demo articles (the bot
//! does this for every question no flow takes), single-threaded.

use baton_kb::KnowledgeBase;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn search(c: &mut Criterion) {
    let kb = KnowledgeBase::demo().unwrap_or_else(|e| panic!("demo articles: {e}"));
    let questions = [
        ("short", "paypal?", "en"),
        ("typical", "how long does shipping take to Canada?", "en"),
        (
            "long",
            "I bought a jacket as a gift and it doesn't fit, can I exchange it for another size or do I have to \
             send it back and order again, and who pays for the return shipping?",
            "en",
        ),
        ("spanish", "¿cuánto tarda en llegar un reembolso a mi tarjeta?", "es"),
        ("nothing", "the weather on mars", "en"),
    ];
    let mut group = c.benchmark_group("kb_search");
    for (name, question, language) in questions {
        group.bench_function(name, |b| b.iter(|| kb.search(black_box(question), language, 1)));
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
