//! Runs the shared store conformance suite, plus SQLite-only checks, on temporary files.

use baton_store::Store;
use baton_store_sqlite::{Durability, SqliteStore};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir.join(format!("db-{}.sqlite", COUNTER.fetch_add(1, Ordering::SeqCst)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_conformance_suite() {
    baton_store::conformance::run_all(|| async {
        let store = SqliteStore::open(&temp_db(), Durability::default())
            .await
            .unwrap_or_else(|e| panic!("opening sqlite: {e}"));
        Arc::new(store) as Arc<dyn Store>
    })
    .await;
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_events() {
    let path = temp_db();
    let store = SqliteStore::open(&path, Durability::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store.close().await;
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("INSERT INTO conversations (id, customer_token_hash, phase, last_seq, channel, created_at, updated_at) VALUES (x'01', x'02', 'bot', 1, 'web', 0, 0)")
        .execute(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("INSERT INTO events (conversation_id, seq, at, type, body) VALUES (x'01', 1, 0, 'system_note', '{}')")
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let update = sqlx::query("UPDATE events SET body = 'x'").execute(&pool).await;
    assert!(update.is_err_and(|e| e.to_string().contains("append-only")));
    let delete = sqlx::query("DELETE FROM events").execute(&pool).await;
    assert!(delete.is_err_and(|e| e.to_string().contains("append-only")));
}
