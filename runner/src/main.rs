//! `fluxo`: the whole ledger on one machine. `fluxo serve` runs the same handlers as the Lambda
//! functions over the embedded store, feeds `consolidate` from the embedded queue and has `relay`
//! tail the store's outbox (or the table's stream, with `--backend aws`) and reconcile;
//! `fluxo token` prints a token signed with the same secret; `fluxo import` and `fluxo export` move
//! entries between files and a running API; `fluxo audit` proves the books from the store.

mod audit;
mod consumer;
mod docs;
mod error;
mod export;
mod import;
mod limit;
mod proxy;
mod remote;
mod serve;
mod status;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fluxo::auth::{Scope, issue};
use fluxo::config::Settings;
use jiff::SignedDuration;

use crate::error::CliError;

#[derive(Parser)]
#[command(name = "fluxo", version, about = "The Fluxo cash-flow ledger on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the v1 API with consolidation and relay over the embedded store.
    Serve(ServeArgs),
    /// Print a bearer token signed with this data directory's secret (or FLUXO_JWT_SECRET).
    Token(TokenArgs),
    /// Create the DynamoDB table and SQS queues at AWS_ENDPOINT_URL (or the account) if missing.
    Init,
    /// Record a CSV or JSON Lines file of entries on an account, each line once however often it
    /// runs. Exit 0: every line recorded; 1: some refused (see FILE.rejects.csv); 2: stopped early.
    Import(import::ImportArgs),
    /// Write the entries of an account over a range of business dates as CSV or JSON Lines.
    Export(export::ExportArgs),
    /// Recompute every account's balances from its entries and compare them with the stored ones.
    /// Exit 0: the books agree; 1: differences (one line each); 2: the audit could not finish.
    Audit(audit::AuditArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "FLUXO_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Directory of the embedded store, queue and secret.
    #[arg(long, env = "FLUXO_DATA_DIR", default_value = ".fluxo")]
    data_dir: PathBuf,
    /// Storage backend.
    #[arg(long, env = "FLUXO_BACKEND", default_value = "embedded")]
    backend: BackendArg,
    /// Whether consolidation runs; `off` serves as if the consolidate function were down.
    #[arg(long, env = "FLUXO_CONSOLIDATION", default_value = "on")]
    consolidation: Switch,
    /// Messages per consolidation batch at most, as the SQS event source mapping's batch size.
    #[arg(long, env = "FLUXO_BATCH_SIZE", default_value_t = 100)]
    batch_size: usize,
    /// How long the consumer gathers a batch once its first message is in, as the mapping's batching
    /// window (infra's consolidate_batch_window_s); 0s hands over each receive at once.
    #[arg(long, env = "FLUXO_BATCH_WINDOW", default_value = "1s")]
    batch_window: SignedDuration,
    /// How long relay waits before looking at the outbox or the stream again when it found nothing.
    #[arg(long, env = "FLUXO_RELAY_TICK", default_value = "50ms")]
    relay_tick: SignedDuration,
    /// How often relay reconciles: publishes again every entry recorded more than
    /// FLUXO_RECONCILE_GRACE ago that is still in no balance. Also once at start.
    #[arg(long, env = "FLUXO_RECONCILE_INTERVAL", default_value = "24h")]
    reconcile_interval: SignedDuration,
    /// Requests one caller (a token's subject) may make on one account per minute, sustained; past
    /// it, 429 with Retry-After. A batch counts one per entry. WAF's per-token rule is the limit in
    /// AWS (it counts requests).
    #[arg(long, env = "FLUXO_RATE_PER_MIN", default_value = "6000")]
    rate_per_min: NonZeroU32,
    /// Requests one caller may make on one account at once before the per-minute rate holds them:
    /// by default a full batch (500 entries). A batch bigger than the burst takes the whole burst.
    #[arg(long, env = "FLUXO_RATE_BURST", default_value = "500")]
    rate_burst: NonZeroU32,
    /// Create the `demo` account if missing and print a token and a curl example for it.
    #[arg(long)]
    demo: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Embedded,
    Aws,
}

impl From<BackendArg> for fluxo::config::Backend {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Embedded => Self::Embedded,
            BackendArg::Aws => Self::Aws,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// An account the token grants; repeat for more.
    #[arg(long = "account", required = true)]
    accounts: Vec<String>,
    /// Space-separated scopes.
    #[arg(long, default_value = "ledger:read ledger:write")]
    scope: String,
    /// How long the token is valid, e.g. 1h or 30m.
    #[arg(long, default_value = "1h")]
    ttl: SignedDuration,
    /// The token's subject.
    #[arg(long, default_value = "local")]
    subject: String,
    /// Directory holding the secret when FLUXO_JWT_SECRET is unset.
    #[arg(long, env = "FLUXO_DATA_DIR", default_value = ".fluxo")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token(args) => token(&args),
        Command::Init => init(),
        Command::Import(args) => return import::run(args),
        Command::Export(args) => export::run(args),
        Command::Audit(args) => return audit::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fluxo: {}", error.chain());
            ExitCode::FAILURE
        }
    }
}

fn token(args: &TokenArgs) -> Result<(), CliError> {
    let mut settings = Settings::from_env()?;
    settings.data_dir.clone_from(&args.data_dir);
    let scopes = parse_scopes(&args.scope)?;
    for account in &args.accounts {
        account_id(account)?;
    }
    let secret = settings.jwt_secret()?;
    let token = issue(&secret, &settings.token_binding, &args.subject, &args.accounts, &scopes, args.ttl)
        .map_err(CliError::Token)?;
    println!("{token}");
    Ok(())
}

fn init() -> Result<(), CliError> {
    let settings = Settings::from_env()?;
    runtime(tokio::runtime::Builder::new_current_thread())?.block_on(async {
        let clients = fluxo::adapters::aws::Clients::from_env(None).await;
        fluxo::adapters::aws::ensure_table(&clients.dynamodb, &settings.table).await?;
        let visibility_s = settings.queue.visibility_timeout.as_secs();
        let urls = fluxo::adapters::aws::ensure_queues(
            &clients.sqs,
            &settings.queue_name,
            settings.queue.max_receives,
            visibility_s,
        )
        .await?;
        println!("table {} ready\nqueue {}\ndead-letter queue {}", settings.table, urls.queue, urls.dead_letter);
        Ok(())
    })
}

fn parse_scopes(raw: &str) -> Result<Vec<Scope>, CliError> {
    raw.split_whitespace()
        .map(|s| match s {
            "ledger:read" => Ok(Scope::Read),
            "ledger:write" => Ok(Scope::Write),
            other => Err(CliError::Invalid(format!("unknown scope {other:?}; use ledger:read and/or ledger:write"))),
        })
        .collect()
}

/// The async runtime a command runs on, from `builder`: one thread for `init` and the API's clients,
/// every core for the server and the audit.
fn runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, CliError> {
    builder.enable_all().build().map_err(CliError::io("start the runtime"))
}

/// An account id from the command line.
fn account_id(raw: &str) -> Result<fluxo::domain::account::AccountId, CliError> {
    fluxo::domain::account::AccountId::parse(raw).map_err(|e| CliError::Invalid(format!("account {raw:?} {e}")))
}
