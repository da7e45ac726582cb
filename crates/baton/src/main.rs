//! The `baton` binary: parses the command line, reads configuration, opens the store and
//! starts the server. It is glue; everything it calls lives in the library crates.

mod database;
mod nlu;

use anyhow::Context;
use baton_domain::AgentId;
use baton_server::config::{Config, DEMO_CONFIG};
use baton_server::Baton;
use baton_store::{Agent, NewAgent, Role};
use clap::{Parser, Subcommand};
use database::{Database, Location, Settings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "baton", version, about = "Customer-support chat with context-first handoff")]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Understanding customer messages.
    Nlu {
        #[command(subcommand)]
        command: NluCommand,
    },
    /// Manage agents on the configured database, whether the server runs or not.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with the database itself.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy a whole database (agents, sessions, conversations and their logs) into a new, empty
    /// PostgreSQL database, then check the copy. Stop the servers using the source first.
    Copy {
        /// The database to copy: `sqlite://path/to/baton.db` (or a PostgreSQL URL).
        #[arg(long)]
        from: String,
        /// The empty PostgreSQL database to fill: `postgres://user:password@host:5432/db`.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum NluCommand {
    /// Train the intent model on one CSV file and score it on another.
    Eval(nlu::EvalArgs),
    /// Choose the classifier's settings by cross-validation on training data alone: score
    /// each candidate, print the table, name the choice.
    Sweep(nlu::SweepArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the bundled demo configuration (a starting point for your own).
    Default,
    /// Check a configuration file and say what is wrong with it.
    Check { file: PathBuf },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "BATON_LISTEN")]
    listen: Option<SocketAddr>,
    /// A folder of knowledge-base articles (markdown with front matter); overrides the
    /// configuration's `knowledge.dir` and the bundled demo articles.
    #[arg(long, env = "BATON_KB")]
    kb: Option<PathBuf>,
}

/// Which configuration and database a command works on.
#[derive(clap::Args, Default)]
struct StoreArgs {
    /// Configuration file (TOML); the bundled demo configuration when absent.
    #[arg(long, env = "BATON_CONFIG")]
    config: Option<PathBuf>,
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = "BATON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: `sqlite://path/to/file.db`, or `postgres://user:password@host:5432/db` to
    /// run several instances on one database; overrides --data-dir.
    #[arg(long, env = "BATON_DATABASE_URL")]
    database_url: Option<String>,
    /// SQLite: also survive power loss, not only a crash of the process (one fsync per commit).
    #[arg(long, env = "BATON_FSYNC_EVERY_COMMIT")]
    fsync_every_commit: bool,
    /// PostgreSQL: connections this instance holds at most (default 16).
    #[arg(long, env = "BATON_DATABASE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_connections: Option<u32>,
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// List the agents: email, name, role.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Add an agent; their one-time password is printed once.
    Add {
        email: String,
        /// The name customers see.
        #[arg(long)]
        name: String,
        /// `agent`, `supervisor` or `admin`.
        #[arg(long, default_value = "agent")]
        role: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Give an agent a new one-time password (printed once); their sessions end at once, and
    /// a running server closes their open streams at its next session check (every ping).
    ResetPassword {
        email: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Commands::Serve(ServeArgs::default())) {
        Commands::Config {
            command: ConfigCommand::Default,
        } => {
            print!("{DEMO_CONFIG}");
            Ok(())
        }
        Commands::Config {
            command: ConfigCommand::Check { file },
        } => {
            let config = load_config(Some(&file))?;
            train_nlu(&config).with_context(|| format!("checking {}", file.display()))?;
            baton_server::bot::bot_parts(&config, None).with_context(|| format!("checking {}", file.display()))?;
            baton_server::bot::routing(&config).with_context(|| format!("checking {}", file.display()))?;
            println!("{}: ok", file.display());
            Ok(())
        }
        Commands::Nlu {
            command: NluCommand::Eval(args),
        } => nlu::run_eval(args),
        Commands::Nlu {
            command: NluCommand::Sweep(args),
        } => nlu::run_sweep(args),
        Commands::Agents { command } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(agents(command)),
        Commands::Db {
            command: DbCommand::Copy { from, to },
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(database::copy(&from, &to)),
        Commands::Serve(args) => {
            init_logging();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(args))
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        None => Config::parse(DEMO_CONFIG, "the demo configuration")?,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Config::parse(&text, &path.display().to_string())?
        }
    })
}

/// Trains the NLU models of a configuration, which checks every intent and example.
fn train_nlu(config: &Config) -> anyhow::Result<Option<baton_nlu::Analyzer>> {
    config
        .nlu
        .as_ref()
        .map(baton_nlu::Analyzer::new)
        .transpose()
        .map_err(Into::into)
}

/// Opens the configured database (created if missing).
async fn open_store(args: &StoreArgs, config: &Config) -> anyhow::Result<Database> {
    let settings = Settings {
        fsync_every_commit: args.fsync_every_commit,
        max_connections: args.max_connections,
    };
    let dir = args.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
    let location = match &args.database_url {
        Some(url) => Location::Url(url),
        None => Location::DataDir(&dir),
    };
    Database::open(location, settings).await
}

/// `baton agents ...`: passwords are printed once, on stdout, never logged.
async fn agents(command: AgentsCommand) -> anyhow::Result<()> {
    let store_args = match &command {
        AgentsCommand::List { store }
        | AgentsCommand::Add { store, .. }
        | AgentsCommand::ResetPassword { store, .. } => store,
    };
    let config = load_config(store_args.config.as_ref())?;
    let database = open_store(store_args, &config).await?;
    let store = database.store();
    // Every path ends by closing the store, errors included.
    let outcome = async {
        match &command {
            AgentsCommand::List { .. } => {
                for agent in store.agents().await? {
                    println!("{}\t{}\t{}", agent.email, agent.display_name, agent.role.as_str());
                }
                Ok(())
            }
            AgentsCommand::Add { email, name, role, .. } => {
                let role = Role::parse(role)
                    .with_context(|| format!("`--role` must be agent, supervisor or admin, not `{role}`"))?;
                anyhow::ensure!(
                    email.contains('@') && !email.chars().any(char::is_whitespace),
                    "`{email}` is not an email address"
                );
                anyhow::ensure!(!name.trim().is_empty(), "`--name` must not be empty");
                let password = baton_server::auth::generate_password();
                let agent = Agent {
                    id: AgentId(uuid::Uuid::now_v7()),
                    email: email.clone(),
                    display_name: name.trim().to_owned(),
                    role,
                };
                let password_hash = baton_server::auth::hash_password(&password)?;
                let created = store
                    .insert_agent_if_absent(NewAgent { agent, password_hash }, baton_server::now())
                    .await?;
                anyhow::ensure!(created, "an agent with email `{email}` already exists");
                println!("Agent {email} created. Their one-time password is shown only now:\n  {email}  {password}");
                Ok(())
            }
            AgentsCommand::ResetPassword { email, .. } => {
                let password = baton_server::auth::generate_password();
                let password_hash = baton_server::auth::hash_password(&password)?;
                let found = store.reset_password(email, password_hash).await?;
                anyhow::ensure!(found, "no agent has the email `{email}`");
                println!(
                "New one-time password for {email}, shown only now (their sessions have ended):\n  {email}  {password}"
            );
                Ok(())
            }
        }
    }
    .await;
    database.close().await;
    outcome
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(args.store.config.as_ref())?;
    let bot_parts = baton_server::bot::bot_parts(&config, args.kb.as_deref()).context("setting up the bot")?;
    match &bot_parts {
        Some(parts) => tracing::info!(
            languages = ?parts.analyzer.languages(),
            articles = parts.knowledge.articles().len(),
            "the bot is ready"
        ),
        None => tracing::info!("no [dialogue] section: no bot; customer messages wait for a person"),
    }
    let routing = baton_server::bot::routing(&config).context("setting up routing")?;
    let database = open_store(&args.store, &config).await?;
    let store = database.store();

    let created = baton_server::seed_agents(&*store, &config)
        .await
        .context("creating demo agents")?;
    if !created.is_empty() {
        // Shown once, on the console, never in the log.
        println!("Agents created. Their one-time passwords are shown only now; note them:");
        for (email, password) in &created {
            println!("  {email}  {password}");
        }
    }

    let listen = args.listen.unwrap_or(config.server.listen);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    println!("Baton listening on http://{address}");
    tracing::info!(%address, "listening");

    let hub = Arc::new(baton_server::Hub::default());
    let bot = bot_parts.map(|parts| baton_runtime::Bot::new(store.clone(), hub.clone(), parts));
    let mut sweeper = None;
    if let Some(bot) = &bot {
        // What a crash left unanswered is answered now; later, what any instance leaves
        // unanswered is taken over (each claimed in the database, so one instance answers).
        let picked_up = bot.recover().await.context("picking up unanswered conversations")?;
        if picked_up > 0 {
            tracing::info!(conversations = picked_up, "picked up unanswered conversations");
        }
        let takeover = std::time::Duration::from_secs(config.server.bot_takeover_after_seconds.max(1));
        sweeper = Some(bot.sweep_stale(takeover));
    }
    let router = match routing {
        Some(routing) => {
            tracing::info!(queues = routing.queues.len(), "routing is on");
            Some(
                baton_server::bot::router(&config, routing, store.clone(), hub.clone())
                    .context("setting up routing")?,
            )
        }
        None => None,
    };
    let baton = Baton::with_bot(store.clone(), config, hub, bot).with_router(router);
    baton.serve(listener, shutdown_signal()).await?;
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining requests and closing streams");
}
