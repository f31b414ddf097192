//! `fluxo import`: a file of entries (CSV or JSON Lines) recorded on one account through the batch
//! route, each line once however many times the import runs. A line without an idempotency key gets
//! one derived from the file's content hash and the line number, so running the same file again after
//! a crash or a Ctrl-C records nothing twice. Lines the ledger refuses go to `<file>.rejects.csv` with
//! their reasons.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fluxo::domain::batch::ENTRIES_MAX;
use fluxo::http::BATCH_BODY_BYTES_MAX;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::CliError;
use crate::remote::{ApiClient, Endpoint, refusal};

/// Rounds of resending the entries the store did not take (their result was 503) before giving up.
const RESENDS_MAX: u32 = 8;
/// Room left in a batch body for the envelope.
const ENVELOPE_BYTES: usize = 64;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The account the entries are recorded on.
    #[arg(long)]
    account: String,
    #[command(flatten)]
    endpoint: Endpoint,
    /// Entries per request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    batch_size: u16,
    /// CSV with a header naming `type`, `amount` and optionally `description`, `occurred_at`,
    /// `currency` and `idempotency_key` (other columns are ignored), or JSON Lines (`.jsonl`,
    /// `.ndjson`), one entry body per line.
    file: PathBuf,
}

/// One line of the file, ready to send or refused already.
struct Line {
    number: u64,
    key: String,
    /// The batch element (a JSON object with its `idempotency_key`), or why it cannot be one.
    element: Result<String, String>,
    /// The line's fields as read, for the rejects file.
    raw: Vec<String>,
}

/// What the import did so far.
#[derive(Default)]
struct Tally {
    recorded: u64,
    replayed: u64,
    refused: u64,
    /// Lines the store did not take after every resend: the import must run again.
    unfinished: u64,
}

/// Runs the import; exit 0 when every line is recorded (now or before), 1 when the ledger refused
/// some (they are in the rejects file), 2 when the import stopped early.
pub fn run(args: ImportArgs) -> ExitCode {
    let runtime = match crate::runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(runtime) => runtime,
        Err(error) => return stopped(&error.chain()),
    };
    match runtime.block_on(import(args)) {
        Ok(tally) if tally.unfinished > 0 => stopped(&format!(
            "{} lines were not recorded (the ledger was unavailable); run the same import again",
            tally.unfinished
        )),
        Ok(tally) if tally.refused > 0 => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => stopped(&error.chain()),
    }
}

fn stopped(message: &str) -> ExitCode {
    eprintln!("fluxo import: {message}; nothing is recorded twice when it runs again");
    ExitCode::from(2)
}

async fn import(args: ImportArgs) -> Result<Tally, CliError> {
    crate::account_id(&args.account)?;
    let (digest, newlines) = scan(&args.file)?;
    let api = ApiClient::new(args.endpoint.clone())?;
    let lines = read_lines(&args.file, &digest)?;
    let mut rejects = Rejects::new(&args.file, lines.header.clone())?;
    let progress = progress_bar(newlines);
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut batch = Batch::new(usize::from(args.batch_size).min(ENTRIES_MAX));
    let path = format!("/v1/accounts/{}/entries/batch", args.account);
    for line in lines.rows {
        let line = line?;
        if let Err(reason) = &line.element {
            rejects.write(&line, "unread", reason)?;
            tally.refused += 1;
        } else if let Some(full) = batch.add(line) {
            send(&api, &path, full, &mut tally, &mut rejects).await?;
        }
        progress.set_position(tally.recorded + tally.replayed + tally.refused + tally.unfinished);
        progress.set_message(summary(&tally));
    }
    if let Some(last) = batch.take() {
        send(&api, &path, last, &mut tally, &mut rejects).await?;
    }
    progress.finish_and_clear();
    rejects.finish()?;
    report(&args.file, &tally, started.elapsed());
    Ok(tally)
}

/// The file's SHA-256 (hex) and its count of newlines, read once in blocks.
fn scan(path: &Path) -> Result<(String, u64), CliError> {
    let mut file = File::open(path).map_err(CliError::io(format!("open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut newlines = 0u64;
    let mut block = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut block).map_err(CliError::io(format!("read {}", path.display())))?;
        if read == 0 {
            break;
        }
        hasher.update(&block[..read]);
        newlines += block[..read].iter().filter(|b| **b == b'\n').count() as u64;
    }
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((digest, newlines))
}

/// The key of a line that carries none: the file's content and the line's number, so the same file
/// gives the same keys on every run and another file gives others.
fn derived_key(digest: &str, line: u64) -> String {
    format!("import-{}-{line}", &digest[..20])
}

/// The lines of a file, with the header the rejects file repeats.
struct Lines {
    header: Vec<String>,
    rows: Box<dyn Iterator<Item = Result<Line, CliError>>>,
}

fn read_lines(path: &Path, digest: &str) -> Result<Lines, CliError> {
    let file = File::open(path).map_err(CliError::io(format!("open {}", path.display())))?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let digest = digest.to_owned();
    if matches!(extension.as_str(), "jsonl" | "ndjson") {
        let rows = BufReader::new(file).lines().enumerate().filter_map(move |(at, text)| {
            let number = at as u64 + 1;
            match text {
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => Some(Ok(json_line(number, &text, &derived_key(&digest, number)))),
                Err(e) => Some(Err(CliError::io(format!("read line {number}"))(e))),
            }
        });
        return Ok(Lines { header: vec!["entry".into()], rows: Box::new(rows) });
    }
    let mut reader = csv::ReaderBuilder::new().from_reader(file);
    let header: Vec<String> =
        reader.headers().map_err(CliError::csv("read the CSV header"))?.iter().map(|h| h.trim().to_owned()).collect();
    for required in ["type", "amount"] {
        if !header.iter().any(|h| h == required) {
            return Err(CliError::Invalid(format!(
                "the CSV header must name `type` and `amount`; it names {}",
                header.join(",")
            )));
        }
    }
    let columns = header.clone();
    let rows = reader.into_records().map(move |record| {
        let record = record.map_err(|e| e.to_string());
        Ok(match record {
            Ok(record) => {
                let number = record.position().map_or(0, csv::Position::line);
                csv_line(number, &columns, &record, &derived_key(&digest, number))
            }
            // A row with the wrong number of fields is refused on its own; the others go on.
            Err(reason) => Line { number: 0, key: String::new(), element: Err(reason), raw: Vec::new() },
        })
    });
    Ok(Lines { header, rows: Box::new(rows) })
}

/// A CSV row as a batch element. Values are sent as written for the ledger to judge (an amount that
/// is not an integer goes as a string and comes back refused); empty cells are absent fields.
fn csv_line(number: u64, columns: &[String], record: &csv::StringRecord, derived: &str) -> Line {
    let raw: Vec<String> = record.iter().map(str::to_owned).collect();
    let mut entry = Map::new();
    for (column, value) in columns.iter().zip(record.iter()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match column.as_str() {
            "amount" => {
                let amount = value.parse::<i64>().map_or_else(|_| Value::from(value), Value::from);
                entry.insert(column.clone(), amount);
            }
            "type" | "description" | "occurred_at" | "currency" | "idempotency_key" => {
                entry.insert(column.clone(), Value::from(value));
            }
            _ => {}
        }
    }
    let key = entry.get("idempotency_key").and_then(Value::as_str).unwrap_or(derived).to_owned();
    entry.insert("idempotency_key".into(), Value::from(key.as_str()));
    let element = serde_json::to_string(&entry).map_err(|e| e.to_string());
    Line { number, key, element, raw }
}

/// A JSON Lines line as a batch element: the object as written, with a derived key put first when
/// it has none. The ledger reads it as strictly as a single entry's body.
fn json_line(number: u64, text: &str, derived: &str) -> Line {
    let raw = vec![text.to_owned()];
    let Ok(object) = serde_json::from_str::<Map<String, Value>>(text) else {
        return Line { number, key: String::new(), element: Err("not a JSON object".into()), raw };
    };
    if let Some(key) = object.get("idempotency_key") {
        let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
        return Line { number, key, element: Ok(text.trim().to_owned()), raw };
    }
    let quoted = Value::from(derived).to_string();
    let members = text.trim().strip_prefix('{').unwrap_or_default().trim_start();
    let element = if members.starts_with('}') {
        format!(r#"{{"idempotency_key":{quoted}}}"#)
    } else {
        format!(r#"{{"idempotency_key":{quoted},{members}"#)
    };
    Line { number, key: derived.to_owned(), element: Ok(element), raw }
}

/// Lines gathered for one request: at most `size` of them, within the body limit, keys distinct.
struct Batch {
    size: usize,
    lines: Vec<Line>,
    keys: HashSet<String>,
    bytes: usize,
}

impl Batch {
    fn new(size: usize) -> Self {
        Self { size, lines: Vec::with_capacity(size), keys: HashSet::new(), bytes: ENVELOPE_BYTES }
    }

    /// Adds a line, first handing back the batch it would not fit in (too many lines, too many
    /// bytes, or its key already there: the ledger would refuse the whole batch).
    fn add(&mut self, line: Line) -> Option<Vec<Line>> {
        let bytes = line.element.as_ref().map_or(0, String::len) + 1;
        let full =
            self.lines.len() == self.size || self.bytes + bytes > BATCH_BODY_BYTES_MAX || self.keys.contains(&line.key);
        let sent = if full { self.take() } else { None };
        self.bytes += bytes;
        self.keys.insert(line.key.clone());
        self.lines.push(line);
        sent
    }

    fn take(&mut self) -> Option<Vec<Line>> {
        self.keys.clear();
        self.bytes = ENVELOPE_BYTES;
        (!self.lines.is_empty()).then(|| std::mem::take(&mut self.lines))
    }
}

/// Sends one batch and tallies its results, resending the entries the store did not take.
async fn send(
    api: &ApiClient,
    path: &str,
    mut lines: Vec<Line>,
    tally: &mut Tally,
    rejects: &mut Rejects,
) -> Result<(), CliError> {
    for round in 0..RESENDS_MAX {
        let elements: Vec<&str> = lines.iter().filter_map(|l| l.element.as_deref().ok()).collect();
        let body = format!(r#"{{"entries":[{}]}}"#, elements.join(","));
        let (status, answer) = api.call(Method::POST, path, Some(&body)).await?;
        if status != StatusCode::OK {
            let doing = format!("the batch of lines {}..", lines[0].number);
            return Err(CliError::Refused { doing, refusal: refusal(status, &answer) });
        }
        let results = answer["results"].as_array().filter(|r| r.len() == lines.len());
        let results =
            results.ok_or_else(|| CliError::Api("the answer does not hold one result per entry".to_owned()))?;
        let mut again = Vec::new();
        for (line, result) in lines.into_iter().zip(results) {
            match result["status"].as_u64() {
                Some(201) => tally.recorded += 1,
                Some(200) => tally.replayed += 1,
                Some(500 | 503) => again.push(line),
                status => {
                    rejects.write(&line, &status.unwrap_or_default().to_string(), &reason(&result["problem"]))?;
                    tally.refused += 1;
                }
            }
        }
        if again.is_empty() {
            return Ok(());
        }
        lines = again;
        tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(round.min(5))).await;
    }
    tally.unfinished += lines.len() as u64;
    Ok(())
}

/// A refused entry's reason: the problem's detail, and each field it names.
fn reason(problem: &Value) -> String {
    let detail = problem["detail"].as_str().unwrap_or("refused");
    let fields: Vec<String> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| Some(format!("{}: {}", e["field"].as_str()?, e["message"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    if fields.len() > 1 { fields.join("; ") } else { detail.to_owned() }
}

/// `<file>.rejects.csv`: each refused line with its number, status and reason, then its fields as
/// read. Written only when a line is refused; a stale one from an earlier run is removed.
struct Rejects {
    path: PathBuf,
    header: Vec<String>,
    writer: Option<csv::Writer<File>>,
}

impl Rejects {
    fn new(source: &Path, header: Vec<String>) -> Result<Self, CliError> {
        let mut name = source.file_name().unwrap_or_default().to_owned();
        name.push(".rejects.csv");
        let path = source.with_file_name(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(CliError::io(format!("remove the old {}", path.display()))(e));
            }
            _ => {}
        }
        Ok(Self { path, header, writer: None })
    }

    fn write(&mut self, line: &Line, status: &str, reason: &str) -> Result<(), CliError> {
        let doing = format!("write {}", self.path.display());
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let mut writer =
                    csv::WriterBuilder::new().flexible(true).from_path(&self.path).map_err(CliError::csv(&doing))?;
                let header =
                    ["line", "status", "reason"].into_iter().map(str::to_owned).chain(self.header.iter().cloned());
                writer.write_record(header.collect::<Vec<_>>()).map_err(CliError::csv(&doing))?;
                self.writer.insert(writer)
            }
        };
        let number = if line.number == 0 { String::new() } else { line.number.to_string() };
        let record = [number, status.to_owned(), reason.to_owned()].into_iter().chain(line.raw.iter().cloned());
        writer.write_record(record.collect::<Vec<_>>()).map_err(CliError::csv(doing))
    }

    fn finish(self) -> Result<(), CliError> {
        match self.writer {
            Some(mut writer) => writer.flush().map_err(CliError::io(format!("write {}", self.path.display()))),
            None => Ok(()),
        }
    }
}

fn progress_bar(lines: u64) -> ProgressBar {
    let bar = ProgressBar::new(lines);
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} lines · {per_sec} · ETA {eta} · {msg}",
    );
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn summary(tally: &Tally) -> String {
    format!("recorded {} · replayed {} · refused {}", tally.recorded, tally.replayed, tally.refused)
}

fn report(file: &Path, tally: &Tally, elapsed: Duration) {
    let lines = tally.recorded + tally.replayed + tally.refused + tally.unfinished;
    let rate = lines as f64 / elapsed.as_secs_f64().max(0.001);
    println!(
        "{}: {lines} lines in {:.1} s ({rate:.0} lines/s): {}",
        file.display(),
        elapsed.as_secs_f64(),
        summary(tally)
    );
    if tally.refused > 0 {
        println!("refused lines and their reasons: {}.rejects.csv", file.display());
    }
}
