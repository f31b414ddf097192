//! `fluxo export`: the entries of an account over a range of business dates, as CSV or JSON Lines,
//! for accountants. Reads through the API page by page (500 entries a page), so it holds one page
//! at a time whatever the account's size. The CSV names the columns `fluxo import` reads, so an
//! export can be imported elsewhere.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::CliError;
use crate::remote::{ApiClient, Endpoint, refusal};

/// The columns of an exported entry, in order: what `fluxo import` reads first, then the rest.
const COLUMNS: [&str; 10] = [
    "type",
    "amount",
    "description",
    "occurred_at",
    "currency",
    "id",
    "business_date",
    "recorded_at",
    "reverses",
    "reversed_by",
];
/// The most business dates one export covers, as the balance range does.
const DAYS_MAX: i32 = 366;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The account whose entries are exported.
    #[arg(long)]
    account: String,
    /// The first business date, YYYY-MM-DD.
    #[arg(long)]
    from: Date,
    /// The last business date, YYYY-MM-DD (at most 366 days after `from`).
    #[arg(long)]
    to: Date,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Where to write; standard output when absent.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    endpoint: Endpoint,
}

/// Runs the export.
///
/// # Errors
/// A bad range or account id, an API that refuses or cannot be reached, or an output that cannot be
/// written; what was written before stays, and the command can run again.
pub fn run(args: ExportArgs) -> Result<(), CliError> {
    crate::account_id(&args.account)?;
    let days = args.from.until(args.to).map_err(|e| CliError::Invalid(format!("--from to --to: {e}")))?.get_days();
    if !(0..DAYS_MAX).contains(&days) {
        return Err(CliError::Invalid(format!("--to must be from --from to {} days after it", DAYS_MAX - 1)));
    }
    let output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).map_err(CliError::io(format!("create {}", path.display())))?),
        None => Box::new(std::io::stdout().lock()),
    };
    crate::runtime(tokio::runtime::Builder::new_current_thread())?
        .block_on(export(&args, Sink::new(args.format, BufWriter::new(output))?))
}

async fn export(args: &ExportArgs, mut sink: Sink) -> Result<(), CliError> {
    let api = ApiClient::new(args.endpoint.clone())?;
    let progress = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} entries · {per_sec} · {msg}") {
        progress.set_style(style);
    }
    let mut date = args.from;
    while date <= args.to {
        progress.set_message(date.to_string());
        let mut cursor: Option<String> = None;
        loop {
            let page = page(&api, &args.account, date, cursor.as_deref()).await?;
            for entry in page["items"].as_array().into_iter().flatten() {
                sink.write(entry)?;
                progress.inc(1);
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        date = date.tomorrow().map_err(|e| CliError::Invalid(format!("the day after {date}: {e}")))?;
    }
    progress.finish_and_clear();
    eprintln!("exported {} entries of {} from {} to {}", progress.position(), args.account, args.from, args.to);
    sink.finish()
}

async fn page(api: &ApiClient, account: &str, date: Date, cursor: Option<&str>) -> Result<Value, CliError> {
    let mut path = format!("/v1/accounts/{account}/entries?date={date}&limit=500");
    if let Some(cursor) = cursor {
        path.push_str("&cursor=");
        path.push_str(cursor);
    }
    let (status, body) = api.call(Method::GET, &path, None).await?;
    if status != StatusCode::OK {
        return Err(CliError::Refused { doing: format!("listing {date}"), refusal: refusal(status, &body) });
    }
    Ok(body)
}

/// Where exported entries go, in the chosen format.
enum Sink {
    Csv(Box<csv::Writer<BufWriter<Box<dyn Write>>>>),
    Jsonl(BufWriter<Box<dyn Write>>),
}

impl Sink {
    fn new(format: Format, out: BufWriter<Box<dyn Write>>) -> Result<Self, CliError> {
        Ok(match format {
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(COLUMNS).map_err(CliError::csv("write the header"))?;
                Self::Csv(Box::new(writer))
            }
            Format::Jsonl => Self::Jsonl(out),
        })
    }

    fn write(&mut self, entry: &Value) -> Result<(), CliError> {
        match self {
            Self::Csv(writer) => {
                let cell = |column: &str| match &entry[column] {
                    Value::Null => String::new(),
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                writer.write_record(COLUMNS.map(cell)).map_err(CliError::csv("write an entry"))
            }
            Self::Jsonl(out) => writeln!(out, "{entry}").map_err(CliError::io("write an entry")),
        }
    }

    fn finish(self) -> Result<(), CliError> {
        match self {
            Self::Csv(mut writer) => writer.flush(),
            Self::Jsonl(mut out) => out.flush(),
        }
        .map_err(CliError::io("write the last entries"))
    }
}
