//! Why a `fluxo` command stopped: one type for every subcommand, each variant keeping the error
//! that caused it. `main` prints it once, with its causes ([`CliError::chain`]).

use fluxo::config::ConfigError;
use fluxo::ledger::LedgerError;
use fluxo::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An argument, or a setting only this command reads, is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The settings from the environment cannot be used, or the backend cannot be opened.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store or the queue failed.
    #[error(transparent)]
    Backend(#[from] PortError),
    /// An account's audit could not finish.
    #[error("cannot audit account {account}")]
    Audit {
        account: String,
        #[source]
        source: PortError,
    },
    /// A use case of the ledger refused.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A file, a socket or the async runtime: `doing` says which.
    #[error("cannot {doing}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    /// A CSV file could not be read or written.
    #[error("cannot {doing}")]
    Csv {
        doing: String,
        #[source]
        source: csv::Error,
    },
    /// The API could not be reached, or kept failing, or answered what is not JSON.
    #[error("{0}")]
    Api(String),
    /// The API refused a request: its status and the problem's detail.
    #[error("{doing}: {refusal}")]
    Refused { doing: String, refusal: String },
    /// A token could not be signed.
    #[error("cannot sign the token")]
    Token(#[source] jsonwebtoken::errors::Error),
    /// The metrics recorder could not be installed.
    #[error("cannot install the metrics recorder")]
    Metrics(#[source] metrics_exporter_prometheus::BuildError),
}

impl CliError {
    /// Maps an I/O error from `doing` (e.g. "open ledger.csv").
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |source| Self::Io { doing, source }
    }

    /// Maps a CSV error from `doing`.
    pub fn csv(doing: impl Into<String>) -> impl FnOnce(csv::Error) -> Self {
        let doing = doing.into();
        move |source| Self::Csv { doing, source }
    }

    /// The error and each of its causes, `: `-separated, as `fluxo` prints it.
    pub fn chain(&self) -> String {
        fluxo::logs::chain(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_each_cause_once() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = CliError::io("open ledger.csv")(missing);
        assert_eq!(error.chain(), "cannot open ledger.csv: no such file");
        let backend = CliError::from(PortError::unavailable("SQLite is busy"));
        assert_eq!(backend.chain(), "backend unavailable: SQLite is busy");
    }
}
