//! `baton-loadgen`: drives N concurrent conversations against a running Baton and measures,
//! per message, the time from send until the persisted event comes back on the stream (`ws`),
//! until the REST answer with the stored event (`rest`), or until the bot's reply arrives on
//! the stream (`bot`). The same load against a bare WebSocket echo (`echo-server`, started
//! as a child process) gives the loopback ceiling of the same run, so Baton is reported as a
//! fraction of it. `idle` holds many idle customer streams open and reports the server's RSS.
//!
//! It talks to Baton only through its public API and knows nothing of its internals.

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(name = "baton-loadgen", about = "Load generator for Baton's WebSocket and REST API")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the message load against Baton and against a bare echo, and compare.
    Bench(BenchArgs),
    /// Serve a bare WebSocket echo (the loopback ceiling).
    EchoServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Hold many idle customer streams open and report the server's resident memory.
    Idle(IdleArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Baton's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent conversations, each with its own WebSocket.
    #[arg(long, default_value_t = 100)]
    conversations: usize,
    /// Messages each conversation sends (one in flight at a time), after the warm-up.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Messages each conversation sends first, not measured.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Rounds to run; each round runs Baton (on new conversations) and then the echo, and
    /// the report gives every round and the median of the rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    rounds: u16,
    /// Skip the echo ceiling.
    #[arg(long)]
    no_echo: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// What one measured message is: `ws` (sent on the conversation's WebSocket, until its
    /// stored event comes back), `rest` (POSTed, until the 201 with the stored event) or
    /// `bot` (sent on the WebSocket, until the bot's reply to it arrives on the stream; the
    /// server must run a configuration with a `[dialogue]`). Each `bot` round then also runs
    /// `ws` sends on as many new conversations of the same server, reported beside it.
    #[arg(long, value_enum, default_value_t = Mode::Ws)]
    mode: Mode,
    /// In `bot` mode, how many questions each conversation gets before the customer starts a
    /// new one (default: one round of the questions). More than one round in one conversation
    /// repeats questions, which the demo's escalation policy hands to a person; use it with a
    /// configuration whose streak and loop thresholds are raised.
    #[arg(long)]
    questions_per_conversation: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Ws,
    Rest,
    Bot,
}

/// What customers ask in `bot` mode, in turn: questions the demo answers from its knowledge
/// base, small talk, and one it cannot place. Each customer asks them in a conversation of its
/// own, then starts the next conversation: asked again and again in one conversation, the
/// same questions would be a loop (and two unplaceable messages a dead-end streak), which the
/// escalation policy hands to a person, and the bot would rightly stop answering.
const BOT_QUESTIONS: &[&str] = &[
    "do you accept paypal?",
    "what is your return policy",
    "thanks!",
    "how long does shipping take?",
    "hello",
    "¿cuánto tarda el reembolso?",
    "qwerty zxcv",
];

#[derive(clap::Args)]
struct IdleArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Idle customer WebSockets to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// The server's process id, to read its resident memory from /proc.
    #[arg(long)]
    server_pid: u32,
    /// Seconds to hold the connections before measuring.
    #[arg(long, default_value_t = 5)]
    hold_seconds: u64,
}

#[derive(Debug, Serialize)]
struct LoadResult {
    target: &'static str,
    mode: Mode,
    conversations: usize,
    messages: usize,
    seconds: f64,
    messages_per_second: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize)]
struct Round {
    baton: LoadResult,
    /// In `bot` mode: plain sends on the same server in the same round (each until its stored
    /// event returns; the bot answers them meanwhile), the figure the bot's is set beside.
    #[serde(skip_serializing_if = "Option::is_none")]
    plain: Option<LoadResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    echo: Option<LoadResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_echo: Option<f64>,
}

/// Medians over the rounds: the figures to report (one round's echo varies by ±20% on a
/// shared machine).
#[derive(Debug, Serialize)]
struct Median {
    baton_messages_per_second: f64,
    baton_p99_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    plain_messages_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plain_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    echo_messages_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction_of_echo: Option<f64>,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    rounds: Vec<Round>,
    median: Median,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Bench(args) => bench(args).await,
        Cmd::EchoServer { listen } => echo_server(listen).await,
        Cmd::Idle(args) => idle(args).await,
    }
}

/// One conversation's endpoints.
#[derive(Clone)]
struct Target {
    ws_url: String,
    messages_url: String,
    token: String,
}

async fn create_conversations(url: &str, n: usize) -> anyhow::Result<Vec<Target>> {
    let http = reqwest::Client::new();
    let ws_base = url.replacen("http", "ws", 1);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let response = http
            .post(format!("{url}/api/v1/conversations"))
            .json(&json!({"channel": "api"}))
            .send()
            .await
            .context("creating a conversation")?;
        if !response.status().is_success() {
            bail!("creating a conversation answered {}", response.status());
        }
        let body: Value = response.json().await?;
        let id = body["conversation_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no conversation_id"))?;
        let token = body["customer_token"]
            .as_str()
            .ok_or_else(|| anyhow!("no customer_token"))?;
        targets.push(Target {
            ws_url: format!("{ws_base}/api/v1/conversations/{id}/ws?after=1&access_token={token}"),
            messages_url: format!("{url}/api/v1/conversations/{id}/messages"),
            token: token.to_owned(),
        });
    }
    Ok(targets)
}

/// A message frame, serialized with `type` first (the echo returns it as it is).
#[derive(Serialize)]
struct SendFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    client_message_id: &'a str,
}

/// Whether a frame carries the message back: a stored event (Baton) or the sent frame
/// itself (echo). Matched on the compact JSON text, so the client spends as little CPU per
/// frame as possible and both targets are measured the same way.
fn answers(frame: &str, needle: &str) -> bool {
    (frame.starts_with(r#"{"type":"event""#) || frame.starts_with(r#"{"type":"send""#)) && frame.contains(needle)
}

/// Conversations one customer goes through in `bot` mode, `per` questions each.
fn bot_conversations(warmup: usize, messages: usize, per: usize) -> usize {
    (warmup + messages).div_ceil(per.max(1))
}

/// Sends `warmup + messages` messages one at a time; returns the measured latencies. In bot
/// mode, each round of questions goes to the next of `targets`.
async fn drive(
    targets: Vec<Target>,
    mode: Mode,
    tag: String,
    warmup: usize,
    messages: usize,
    per_conversation: usize,
) -> anyhow::Result<Vec<Duration>> {
    let per_conversation = per_conversation.max(1);
    let Some(first) = targets.first().cloned() else {
        bail!("no conversation to drive");
    };
    if mode == Mode::Rest {
        return drive_rest(first, tag, warmup, messages).await;
    }
    let connect = |target: &Target| {
        let url = target.ws_url.clone();
        async move {
            tokio_tungstenite::connect_async_with_config(url, None, true)
                .await
                .map(|(ws, _)| ws)
                .with_context(|| "connecting a stream")
        }
    };
    let mut ws = connect(&first).await?;
    let mut latencies = Vec::with_capacity(messages);
    for i in 0..warmup + messages {
        if mode == Mode::Bot && i > 0 && i % per_conversation == 0 {
            let next = targets
                .get(i / per_conversation)
                .ok_or_else(|| anyhow!("too few conversations for the questions"))?;
            let _ = ws.close(None).await;
            ws = connect(next).await?;
        }
        let cmid = format!("lg-{tag}-{i}");
        let needle = format!(r#""client_message_id":"{cmid}""#);
        let text = match mode {
            Mode::Bot => BOT_QUESTIONS[i % BOT_QUESTIONS.len()].to_owned(),
            Mode::Ws | Mode::Rest => format!("load message {i}"),
        };
        let frame = serde_json::to_string(&SendFrame {
            kind: "send",
            text: &text,
            client_message_id: &cmid,
        })?;
        let sent = Instant::now();
        ws.send(Message::text(frame)).await?;
        // In bot mode, the reply's client message id is `bot:{seq of the question}`.
        let mut reply_needle = None;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .context("no answer within 10 s")?
                .ok_or_else(|| anyhow!("stream closed"))??;
            let Message::Text(text) = message else { continue };
            if text.starts_with(r#"{"type":"error""#) {
                bail!("server refused a message: {}", text.as_str());
            }
            match (&reply_needle, mode) {
                (None, Mode::Bot) if answers(text.as_str(), &needle) => {
                    let frame: Value = serde_json::from_str(text.as_str())?;
                    let seq = frame["event"]["seq"].as_u64().ok_or_else(|| anyhow!("no seq"))?;
                    reply_needle = Some(format!(r#""client_message_id":"bot:{seq}""#));
                }
                (Some(reply), Mode::Bot) if answers(text.as_str(), reply) => break,
                (_, Mode::Ws) if answers(text.as_str(), &needle) => break,
                _ => {}
            }
        }
        if i >= warmup {
            latencies.push(sent.elapsed());
        }
    }
    let _ = ws.close(None).await;
    Ok(latencies)
}

/// The same load over REST: one POST at a time per conversation, on a kept-alive connection.
async fn drive_rest(target: Target, tag: String, warmup: usize, messages: usize) -> anyhow::Result<Vec<Duration>> {
    let mut connection = KeptAlive::connect(&target.messages_url, &target.token).await?;
    let mut latencies = Vec::with_capacity(messages);
    for i in 0..warmup + messages {
        let body = serde_json::to_vec(&json!({
            "text": format!("load message {i}"),
            "client_message_id": format!("lg-{tag}-{i}"),
        }))?;
        let sent = Instant::now();
        let status = connection.post(&body).await.context("posting a message")?;
        if status != 201 {
            bail!("server answered {status} to a message");
        }
        if i >= warmup {
            latencies.push(sent.elapsed());
        }
    }
    Ok(latencies)
}

/// The longest response the REST mode reads (Baton's answer to a message is under 1 KiB).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// One kept-alive HTTP/1.1 connection that POSTs JSON to one path. A measuring instrument
/// should cost little beside what it measures: a general client (pool, dispatch task, header
/// maps) cost the generator about 70 µs a request on the machine it shares with the server,
/// more than twice the WebSocket sender's. Responses must carry `Content-Length` (Baton's do).
struct KeptAlive {
    stream: tokio::net::TcpStream,
    head: Vec<u8>,
    buffer: Vec<u8>,
}

impl KeptAlive {
    async fn connect(url: &str, token: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("REST mode speaks plain HTTP: it needs an http:// URL, not {url}"))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        // `host:port`, `[v6]:port`, or a host alone (port 80).
        let has_port = host.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
        let address = if has_port {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let stream = tokio::net::TcpStream::connect(&address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: "
        )
        .into_bytes();
        Ok(KeptAlive {
            stream,
            head,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends `body` and reads the whole response; returns its status.
    async fn post(&mut self, body: &[u8]) -> anyhow::Result<u16> {
        use tokio::io::AsyncWriteExt;
        let mut request = Vec::with_capacity(self.head.len() + body.len() + 16);
        request.extend_from_slice(&self.head);
        request.extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        tokio::time::timeout(Duration::from_secs(10), self.stream.write_all(&request))
            .await
            .context("could not send within 10 s")??;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&self.buffer)? {
                let status = response.code.ok_or_else(|| anyhow!("a response without a status"))?;
                let length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                    .ok_or_else(|| anyhow!("a {status} response without Content-Length"))?;
                let total = head_len
                    .checked_add(length)
                    .filter(|&total| total <= MAX_RESPONSE_BYTES)
                    .ok_or_else(|| anyhow!("a {status} response of {length} bytes: too long"))?;
                while self.buffer.len() < total {
                    self.read_more().await?;
                }
                // One request, one response: anything more is out of step.
                if self.buffer.len() > total {
                    bail!("{} bytes after a whole response", self.buffer.len() - total);
                }
                self.buffer.clear();
                return Ok(status);
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .context("no answer within 10 s")??;
        if read == 0 {
            bail!("the server closed the connection");
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

async fn run_load(
    target: &'static str,
    mode: Mode,
    round: u16,
    targets: Vec<Vec<Target>>,
    warmup: usize,
    messages: usize,
    per_conversation: usize,
) -> anyhow::Result<LoadResult> {
    let conversations = targets.len();
    let started = Instant::now();
    let tasks: Vec<_> = targets
        .into_iter()
        .enumerate()
        .map(|(n, t)| {
            tokio::spawn(drive(
                t,
                mode,
                format!("{round}-{n}"),
                warmup,
                messages,
                per_conversation,
            ))
        })
        .collect();
    let mut all = Vec::with_capacity(conversations * messages);
    for task in tasks {
        all.extend(task.await??);
    }
    // Wall time includes the warm-up; count it so the rate is honest.
    let seconds = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| -> f64 {
        let idx = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[idx].as_secs_f64() * 1e3
    };
    let total = conversations * (warmup + messages);
    Ok(LoadResult {
        target,
        mode,
        conversations,
        messages: all.len(),
        seconds,
        messages_per_second: total as f64 / seconds,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: all.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or_default(),
    })
}

async fn spawn_echo() -> anyhow::Result<(tokio::process::Child, String)> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["echo-server", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("echo stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next_line().await?.ok_or_else(|| anyhow!("echo server exited"))?;
    let addr = line
        .strip_prefix("echo listening on ")
        .ok_or_else(|| anyhow!("unexpected echo output {line}"))?;
    Ok((child, format!("ws://{addr}/")))
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    // One echo process for every round; dropping it stops it.
    let echo = if args.no_echo { None } else { Some(spawn_echo().await?) };
    let mut rounds = Vec::with_capacity(usize::from(args.rounds));
    for round in 0..args.rounds {
        let per_conversation = args.questions_per_conversation.unwrap_or(BOT_QUESTIONS.len());
        let per_customer = match args.mode {
            Mode::Bot => bot_conversations(args.warmup, args.messages, per_conversation),
            Mode::Ws | Mode::Rest => 1,
        };
        let created = create_conversations(&url, args.conversations * per_customer).await?;
        let targets: Vec<Vec<Target>> = created.chunks(per_customer).map(<[Target]>::to_vec).collect();
        let baton = run_load(
            "baton",
            args.mode,
            round,
            targets,
            args.warmup,
            args.messages,
            per_conversation,
        )
        .await?;
        let plain = match args.mode {
            Mode::Bot => {
                let created = create_conversations(&url, args.conversations).await?;
                let targets: Vec<Vec<Target>> = created.into_iter().map(|t| vec![t]).collect();
                let per = args.warmup + args.messages;
                Some(run_load("plain", Mode::Ws, round, targets, args.warmup, args.messages, per).await?)
            }
            Mode::Ws | Mode::Rest => None,
        };
        let echo = match &echo {
            Some((_, echo_url)) => {
                let echo_target = Target {
                    ws_url: echo_url.clone(),
                    messages_url: String::new(),
                    token: String::new(),
                };
                let targets = vec![vec![echo_target]; args.conversations];
                let per = args.warmup + args.messages;
                Some(run_load("echo", Mode::Ws, round, targets, args.warmup, args.messages, per).await?)
            }
            None => None,
        };
        let fraction_of_echo = echo.as_ref().map(|e| baton.messages_per_second / e.messages_per_second);
        rounds.push(Round {
            baton,
            plain,
            echo,
            fraction_of_echo,
        });
    }
    drop(echo);
    // The median of one figure over the rounds that have it.
    let over_rounds = |figure: &dyn Fn(&Round) -> Option<f64>| median(rounds.iter().filter_map(figure).collect());
    let median = Median {
        baton_messages_per_second: over_rounds(&|r| Some(r.baton.messages_per_second)).unwrap_or_default(),
        baton_p99_ms: over_rounds(&|r| Some(r.baton.p99_ms)).unwrap_or_default(),
        plain_messages_per_second: over_rounds(&|r| r.plain.as_ref().map(|p| p.messages_per_second)),
        plain_p99_ms: over_rounds(&|r| r.plain.as_ref().map(|p| p.p99_ms)),
        echo_messages_per_second: over_rounds(&|r| r.echo.as_ref().map(|e| e.messages_per_second)),
        fraction_of_echo: over_rounds(&|r| r.fraction_of_echo),
    };
    let report = BenchReport { rounds, median };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for (n, round) in report.rounds.iter().enumerate() {
        println!("round {}", n + 1);
        for r in std::iter::once(&round.baton)
            .chain(round.plain.iter())
            .chain(round.echo.iter())
        {
            println!(
                "  {:<6} {:?} {} conversations, {} measured messages in {:.2} s: {:.0} msg/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                r.target, r.mode, r.conversations, r.messages, r.seconds, r.messages_per_second, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms
            );
        }
        if let Some(f) = round.fraction_of_echo {
            println!("  baton throughput = {:.1}% of the echo ceiling", f * 100.0);
        }
    }
    let m = &report.median;
    print!(
        "median of {} rounds: baton {:.0} msg/s, p99 {:.2} ms",
        report.rounds.len(),
        m.baton_messages_per_second,
        m.baton_p99_ms
    );
    if let (Some(plain), Some(p99)) = (m.plain_messages_per_second, m.plain_p99_ms) {
        print!("; plain sends on the same server {plain:.0} msg/s, p99 {p99:.2} ms");
    }
    match (m.echo_messages_per_second, m.fraction_of_echo) {
        (Some(echo), Some(f)) => println!("; echo {echo:.0} msg/s; baton = {:.1}% of the echo ceiling", f * 100.0),
        _ => println!(),
    }
    Ok(())
}

async fn echo_server(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("echo listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() || message.is_binary() {
                    if ws.send(message).await.is_err() {
                        return;
                    }
                } else if message.is_close() {
                    return;
                }
            }
        });
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

async fn idle(args: IdleArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    let before = rss_kib(args.server_pid)?;
    let targets = create_conversations(&url, args.connections).await?;
    let after_create = rss_kib(args.server_pid)?;
    let mut streams = Vec::with_capacity(targets.len());
    let started = Instant::now();
    for (i, target) in targets.iter().enumerate() {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(&target.ws_url, None, true)
            .await
            .with_context(|| format!("opening stream {i} (raise `ulimit -n` for many streams)"))?;
        streams.push(ws);
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(args.hold_seconds)).await;
    let held = rss_kib(args.server_pid)?;
    // Every stream must still be open: a read with no data pending would block, not end.
    let mut open = 0;
    for ws in &mut streams {
        match tokio::time::timeout(Duration::from_millis(1), ws.next()).await {
            Err(_) | Ok(Some(Ok(_))) => open += 1,
            _ => {}
        }
    }
    println!(
        "{} idle streams opened in {:.1} s, {open} still open after {} s; server RSS: {:.1} MiB at start, {:.1} MiB after creating conversations, {:.1} MiB holding the streams",
        streams.len(),
        opened.as_secs_f64(),
        args.hold_seconds,
        before as f64 / 1024.0,
        after_create as f64 / 1024.0,
        held as f64 / 1024.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::KeptAlive;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers each request on one connection with `answers`, in turn,
    /// each written in two pieces; returns its URL.
    async fn serve(answers: Vec<&'static str>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/api/v1/conversations/x/messages",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buffer = [0u8; 4096];
            for answer in answers {
                let read = socket.read(&mut buffer).await.expect("read");
                let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
                assert!(
                    request.starts_with("POST /api/v1/conversations/x/messages HTTP/1.1\r\n"),
                    "{request}"
                );
                assert!(request.contains("Authorization: Bearer t0k\r\n"), "{request}");
                assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
                let (first, second) = answer.split_at(answer.len() / 2);
                socket.write_all(first.as_bytes()).await.expect("write");
                socket.flush().await.expect("flush");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                socket.write_all(second.as_bytes()).await.expect("write");
            }
        });
        url
    }

    #[tokio::test]
    async fn posts_on_one_connection_and_reads_each_response_whole() {
        let url = serve(vec![
            "HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{\"seq\":12}\n",
            "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}",
        ])
        .await;
        let mut connection = KeptAlive::connect(&url, "t0k").await.expect("connect");
        assert_eq!(connection.post(br#"{"a":1}"#).await.expect("first"), 201);
        assert_eq!(connection.post(br#"{"a":1}"#).await.expect("second"), 429);
    }

    #[tokio::test]
    async fn a_response_without_a_length_or_a_closed_connection_is_an_error() {
        let url = serve(vec![
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ])
        .await;
        let mut connection = KeptAlive::connect(&url, "t0k").await.expect("connect");
        let error = connection.post(br#"{"a":1}"#).await.expect_err("no length");
        assert!(error.to_string().contains("without Content-Length"), "{error}");
        // The server has gone: an error (a closed connection or a reset), never a hang.
        assert!(connection.post(br#"{"a":1}"#).await.is_err());
        assert!(KeptAlive::connect("https://example.com/x", "t").await.is_err());
    }

    #[tokio::test]
    async fn a_response_out_of_step_or_too_long_is_an_error() {
        let url = serve(vec!["HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 201"]).await;
        let mut connection = KeptAlive::connect(&url, "t0k").await.expect("connect");
        let error = connection.post(br#"{"a":1}"#).await.expect_err("extra bytes");
        assert!(error.to_string().contains("after a whole response"), "{error}");
        let url = serve(vec![
            "HTTP/1.1 201 Created\r\nContent-Length: 18446744073709551615\r\n\r\n",
        ])
        .await;
        let mut connection = KeptAlive::connect(&url, "t0k").await.expect("connect");
        let error = connection.post(br#"{"a":1}"#).await.expect_err("too long");
        assert!(error.to_string().contains("too long"), "{error}");
    }
}
