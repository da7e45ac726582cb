//! Which database a command works on: the embedded SQLite file (the default) or PostgreSQL
//! (`--database-url postgres://...`), both behind the same [`Store`] trait.

use anyhow::Context;
use baton_store::Store;
use baton_store_postgres::PgStore;
use baton_store_sqlite::{Durability, SqliteStore};
use std::path::Path;
use std::sync::Arc;

/// An open database.
#[derive(Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// How to reach the database.
pub enum Location<'a> {
    /// `baton.db` in this directory (created if missing).
    DataDir(&'a Path),
    /// `sqlite://...` or `postgres://...` (also `postgresql://`).
    Url(&'a str),
}

/// What opening a database may be asked beyond where it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    /// SQLite: fsync every commit (survive power loss, not only a crash of the process).
    pub fsync_every_commit: bool,
    /// PostgreSQL: connections this instance holds at most.
    pub max_connections: Option<u32>,
}

impl Database {
    pub async fn open(location: Location<'_>, settings: Settings) -> anyhow::Result<Self> {
        let durability = if settings.fsync_every_commit {
            Durability::PowerLoss
        } else {
            Durability::ProcessCrash
        };
        match location {
            Location::Url(url) if is_postgres(url) => {
                anyhow::ensure!(
                    !settings.fsync_every_commit,
                    "--fsync-every-commit is a SQLite setting; PostgreSQL's durability is its own \
                     (synchronous_commit, on by default)"
                );
                let max = settings
                    .max_connections
                    .unwrap_or(baton_store_postgres::DEFAULT_MAX_CONNECTIONS);
                let store = PgStore::connect(url, max)
                    .await
                    .with_context(|| format!("opening the PostgreSQL database {}", redacted(url)))?;
                Ok(Database::Postgres(store))
            }
            Location::Url(url) => {
                anyhow::ensure!(
                    url.starts_with("sqlite:"),
                    "the database URL must start with sqlite:// or postgres://, not `{}`",
                    redacted(url)
                );
                let store = SqliteStore::open_url(url, durability)
                    .await
                    .with_context(|| format!("opening the SQLite database {url}"))?;
                Ok(Database::Sqlite(store))
            }
            Location::DataDir(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
                let path = dir.join("baton.db");
                let store = SqliteStore::open(&path, durability)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?;
                Ok(Database::Sqlite(store))
            }
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(store) => Arc::new(store.clone()),
            Database::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// The database as a source of `baton db copy`.
    pub fn dump(&self) -> &dyn baton_store::copy::Dump {
        match self {
            Database::Sqlite(store) => store,
            Database::Postgres(store) => store,
        }
    }

    /// Finishes what is under way and closes every connection.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(store) => store.close().await,
            Database::Postgres(store) => store.close().await,
        }
    }
}

/// `baton db copy`: every record of `from` into the empty PostgreSQL database `to`, checked.
pub async fn copy(from: &str, to: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_postgres(to),
        "--to must be a PostgreSQL URL (postgres://...), not `{}`",
        redacted(to)
    );
    if let Some(path) = sqlite_path(from) {
        anyhow::ensure!(
            Path::new(path).is_file(),
            "--from names no SQLite database: {path} does not exist"
        );
    }
    let source = Database::open(Location::Url(from), Settings::default()).await?;
    let target = PgStore::connect(to, 4)
        .await
        .with_context(|| format!("opening the PostgreSQL database {}", redacted(to)))?;
    let copied = baton_store::copy::copy(source.dump(), &target).await;
    source.close().await;
    target.close().await;
    let copied = copied.with_context(|| {
        format!(
            "copying {} to {} (the target may now hold part of the copy: drop and create it again \
             before another try)",
            redacted(from),
            redacted(to)
        )
    })?;
    println!(
        "Copied {} agents, {} sessions, {} conversations and {} events. Checked on the target: \
         the same counts, and every conversation's log runs from seq 1 to its last without a gap.",
        copied.agents, copied.sessions, copied.conversations, copied.events
    );
    Ok(())
}

/// The file of an `sqlite:` URL.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL without its password (in the user part, or a `password=` parameter), for
/// messages and logs.
pub fn redacted(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    match query {
        None => base,
        Some(query) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|parameter| match parameter.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                    _ => parameter.to_owned(),
                })
                .collect();
            format!("{base}?{}", parameters.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redacted("postgres://baton:s3cret@db.internal:5432/baton"),
            "postgres://baton:***@db.internal:5432/baton"
        );
        assert_eq!(redacted("postgres://baton@db/baton"), "postgres://baton@db/baton");
        assert_eq!(redacted("sqlite://baton.db"), "sqlite://baton.db");
        assert_eq!(redacted("postgres://u:p@ss@host/db"), "postgres://u:***@host/db");
        assert_eq!(
            redacted("postgres://baton@db/baton?sslmode=disable&password=s3cret"),
            "postgres://baton@db/baton?sslmode=disable&password=***"
        );
        assert_eq!(
            redacted("postgres://baton:a@db/baton?PASSWORD=b"),
            "postgres://baton:***@db/baton?PASSWORD=***"
        );
    }
}
