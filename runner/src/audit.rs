//! `fluxo audit`: every account's daily and monthly balances recomputed from its entries and compared
//! with the stored rollups, straight from the store (the embedded one in the data directory, or the
//! DynamoDB table FLUXO_TABLE names). One line per difference on standard output, a summary per
//! account, and progress on standard error when it is a terminal.
//!
//! Exit 0: the books agree. 1: differences (each printed). 2: the audit could not finish.

use std::path::PathBuf;
use std::process::ExitCode;

use fluxo::audit::{AccountAudit, Progress, Scope};
use fluxo::config::Settings;
use fluxo::domain::account::AccountId;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::SignedDuration;
use jiff::civil::Date;

use crate::BackendArg;
use crate::error::CliError;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// An account to audit; repeat for more. Every account by default.
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// The first business date, YYYY-MM-DD. The audit starts at the first day of its month, from
    /// the stored closing balance of the month before (audit from the start to check that too). By
    /// default each account's first possible date.
    #[arg(long)]
    from: Option<Date>,
    /// The last business date, YYYY-MM-DD; the audit runs to the end of its month. By default today
    /// in each account's time zone.
    #[arg(long)]
    to: Option<Date>,
    /// Storage backend to read.
    #[arg(long, env = "FLUXO_BACKEND", default_value = "embedded")]
    backend: BackendArg,
    /// Directory of the embedded store.
    #[arg(long, env = "FLUXO_DATA_DIR", default_value = ".fluxo")]
    data_dir: PathBuf,
    /// Entries recorded this recently and not applied yet are on their way, not a difference.
    #[arg(long, default_value = "10m")]
    grace: SignedDuration,
}

/// Runs the audit.
pub fn run(args: AuditArgs) -> ExitCode {
    let outcome =
        crate::runtime(tokio::runtime::Builder::new_multi_thread()).and_then(|runtime| runtime.block_on(audit(args)));
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            eprintln!("fluxo audit: {}", error.chain());
            ExitCode::from(2)
        }
    }
}

/// Audits the accounts asked for (or all) and returns how many differences it found.
async fn audit(args: AuditArgs) -> Result<usize, CliError> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && to < from
    {
        return Err(CliError::Invalid("--to must not be before --from".into()));
    }
    if args.grace.is_negative() {
        return Err(CliError::Invalid("--grace must not be negative".into()));
    }
    let mut settings = Settings::from_env()?;
    settings.data_dir.clone_from(&args.data_dir);
    settings.backend = args.backend.into();
    let books = fluxo::config::books(&settings).await?;
    let accounts: Vec<AccountId> = match args.accounts.is_empty() {
        true => books.accounts().await?,
        false => args.accounts.iter().map(|a| crate::account_id(a)).collect::<Result<_, _>>()?,
    };
    let scope = Scope { from: args.from, to: args.to, now: jiff::Timestamp::now(), grace: args.grace };
    let bar = progress_bar(accounts.len());
    let (mut differences, mut entries, mut troubled) = (0, 0, 0);
    for id in &accounts {
        let Some(account) = books.store.get_account(id).await? else {
            return Err(CliError::Invalid(format!("no account {id}")));
        };
        let show = |p: Progress<'_>| {
            bar.set_message(format!("{}: {}/{} dates, {} entries", p.account, p.dates_done, p.dates, p.entries))
        };
        let audit = books
            .audit(&account, scope, &show)
            .await
            .map_err(|source| CliError::Audit { account: id.to_string(), source })?;
        bar.suspend(|| print_account(&audit));
        bar.inc(1);
        differences += audit.findings.len();
        entries += audit.entries;
        troubled += usize::from(!audit.findings.is_empty());
    }
    bar.finish_and_clear();
    match differences {
        0 => println!("audited {} accounts, {entries} entries: the books agree", accounts.len()),
        n => println!("audited {} accounts, {entries} entries: {n} differences in {troubled} accounts", accounts.len()),
    }
    Ok(differences)
}

fn print_account(audit: &AccountAudit) {
    for finding in &audit.findings {
        println!("{} {finding}", audit.account);
    }
    let verdict = match audit.findings.len() {
        0 => "agree".to_owned(),
        n => format!("{n} differences"),
    };
    println!(
        "{}: {} to {}, {} dates, {} entries ({} on their way to a balance): {verdict}",
        audit.account, audit.from, audit.to, audit.dates, audit.entries, audit.pending
    );
}

fn progress_bar(accounts: usize) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(accounts).unwrap_or(u64::MAX));
    let style = ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} accounts · {msg}");
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn dates_and_the_grace_period_are_parsed_and_bad_ones_refused() {
        let ok = crate::Cli::try_parse_from(["fluxo", "audit", "--from", "2026-11-01", "--grace", "1h"]);
        assert!(ok.is_ok());
        let bad = crate::Cli::try_parse_from(["fluxo", "audit", "--from", "2026-13-01"]);
        assert!(bad.is_err());
    }
}
