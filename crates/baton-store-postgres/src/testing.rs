//! Test support (feature `testing`): a fresh, empty store per test, each in its own schema of
//! the database that `BATON_TEST_DATABASE_URL` names. `scripts/test` starts a throwaway
//! cluster and sets the variable; without it, PostgreSQL tests skip themselves and say so.
//!
//! Schemas are left behind after the tests (`baton_test_*`): point the variable at a database
//! made for testing, never at one that holds real conversations.

use crate::PgStore;
use baton_store::StoreError;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

/// The variable naming the database tests may use.
pub const DATABASE_URL_VAR: &str = "BATON_TEST_DATABASE_URL";

/// Connections each test store holds at most.
const TEST_POOL_SIZE: u32 = 4;

/// The test database's URL, when one is given.
pub fn database_url() -> Option<String> {
    std::env::var(DATABASE_URL_VAR).ok().filter(|url| !url.is_empty())
}

/// A store on a new, empty schema of the database at `url`, migrated.
pub async fn fresh_store(url: &str) -> Result<PgStore, StoreError> {
    PgStore::connect_with(fresh_schema(url).await?, TEST_POOL_SIZE).await
}

/// Creates a new, empty schema in the database at `url` and returns options that connect to
/// it (it is first on the search path). Several stores opened with them share one database,
/// as several Baton instances do.
pub async fn fresh_schema(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(StoreError::backend("parsing the test database URL"))?;
    let schema = format!("baton_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = options
        .connect()
        .await
        .map_err(StoreError::backend("connecting to the test database"))?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .map_err(StoreError::backend("creating a test schema"))?;
    admin
        .close()
        .await
        .map_err(StoreError::backend("closing the test database connection"))?;
    Ok(options.options([("search_path", schema.as_str())]))
}

/// Creates a new, empty database beside the one at `url` and returns its URL: for tests that
/// hand a URL to the `baton` binary. Left behind after the test, like the schemas.
pub async fn fresh_database(url: &str) -> Result<String, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(StoreError::backend("parsing the test database URL"))?;
    let name = format!("baton_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = options
        .connect()
        .await
        .map_err(StoreError::backend("connecting to the test database"))?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(StoreError::backend("creating a test database"))?;
    admin
        .close()
        .await
        .map_err(StoreError::backend("closing the test database connection"))?;
    Ok(with_database(url, &name))
}

/// `url` naming database `name` instead of its own (its query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Says that a test could not run because no test database was given (see [`skipped_because`]).
pub fn skipped(test: &str) {
    let reason = format!("{DATABASE_URL_VAR} is not set (scripts/test starts a throwaway PostgreSQL and sets it)");
    skipped_because(test, &reason);
}

/// Says that a test could not check what it is for, and why: on stderr, and in the file
/// `BATON_SKIPPED_LOG` names, so `scripts/test` counts it as skipped rather than passed.
pub fn skipped_because(test: &str, reason: &str) {
    use std::io::Write;
    eprintln!("SKIPPED: {test}: {reason}");
    if let Some(path) = std::env::var_os("BATON_SKIPPED_LOG") {
        let logged = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut file| writeln!(file, "{test}: {reason}"));
        if let Err(e) = logged {
            eprintln!("could not record the skip in {}: {e}", path.to_string_lossy());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_url_names_another_database_and_keeps_its_parameters() {
        assert_eq!(
            with_database("postgres://baton@127.0.0.1:5432/baton_test", "other"),
            "postgres://baton@127.0.0.1:5432/other"
        );
        assert_eq!(
            with_database("postgres://u:p@host/db?sslmode=disable", "other"),
            "postgres://u:p@host/other?sslmode=disable"
        );
        assert_eq!(with_database("postgres://host", "other"), "postgres://host/other");
    }
}
