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

/// Maps an SDK error, kept whole as the cause: throttling, timeouts and dispatch failures are worth
/// retrying later.
pub(crate) fn sdk<E, R>(e: SdkError<E, R>) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let error = match &e {
        SdkError::TimeoutError(_) => PortError::unavailable("the AWS request timed out"),
        SdkError::DispatchFailure(_) => PortError::unavailable("the AWS request could not be sent"),
        SdkError::ServiceError(service) => classify(service.err().code()),
        _ => PortError::failure("the AWS request or its answer could not be read"),
    };
    error.caused_by(e)
}

/// A service's refusal by its error code: throttling and the service's own faults are worth retrying.
fn classify(code: Option<&str>) -> PortError {
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
    let what = format!("AWS refused the request ({})", code.unwrap_or("no error code"));
    if retryable { PortError::unavailable(what) } else { PortError::failure(what) }
}

pub(crate) fn build(e: aws_sdk_dynamodb::error::BuildError) -> PortError {
    PortError::failure("an AWS request could not be built").caused_by(e)
}
