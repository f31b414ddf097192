//! What the AWS SDK's errors mean to the ledger: throttling, timeouts and dispatch failures are worth
//! retrying later ([`PortError::Unavailable`], a 503 to the client); everything else is a failure. And
//! the pause before a retry of a write that lost a race.

use aws_sdk_dynamodb::error::SdkError;

use crate::ports::PortError;

/// Waits before retrying a transaction that lost to a concurrent one: 10 ms, doubling, capped.
pub(super) async fn backoff(attempt: usize) {
    let ms = 10u64.saturating_mul(1 << attempt.min(6));
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Maps an SDK error: throttling, timeouts and dispatch failures are worth retrying later.
pub(crate) fn sdk<E, R>(e: SdkError<E, R>) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            PortError::Unavailable(format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)))
        }
        SdkError::ServiceError(service) => {
            classify(&format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)), service.err().code())
        }
        _ => PortError::Failure(format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e))),
    }
}

fn classify(message: &str, code: Option<&str>) -> PortError {
    let retryable = matches!(
        code,
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException"
        )
    );
    if retryable { PortError::Unavailable(message.to_owned()) } else { PortError::Failure(message.to_owned()) }
}

pub(crate) fn build(e: aws_sdk_dynamodb::error::BuildError) -> PortError {
    PortError::Failure(format!("request could not be built: {e}"))
}
