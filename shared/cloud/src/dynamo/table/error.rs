//! Why a table operation failed, and how the SDK's errors are classified.

use crate::error::is_transient;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use domain::ports::StoreError;

/// Why a table operation failed before or after DynamoDB answered; the source
/// of the [`StoreError`] the caller sees.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("a record could not be encoded as an item")]
    Encode(#[source] serde_dynamo::Error),
    /// The table's name is kept for a debugger, not said: the error reaches
    /// people (a run's log, a status), and the key in `StoreError::Corrupt`
    /// names the item.
    #[error("the item does not decode")]
    Decode {
        table: String,
        /// The decoding error, led by the path of the attribute it is about
        /// (`settings.run_history_days: invalid type ...`).
        #[source]
        source: serde_path_to_error::Error<serde_dynamo::Error>,
    },
    #[error("a record has no string `{attribute}` key attribute")]
    MissingKey { attribute: &'static str },
    #[error("{left} of {total} items were still unprocessed after {attempts} BatchWriteItem calls")]
    Unprocessed {
        left: usize,
        total: usize,
        attempts: u32,
    },
    #[error("{left} of {total} keys were still unprocessed after {attempts} BatchGetItem calls")]
    UnprocessedKeys {
        left: usize,
        total: usize,
        attempts: u32,
    },
}

/// A conditional write's answer: `true` when it wrote, `false` when its
/// condition refused it (an outcome, not an error), else the store's error.
pub(super) fn conditional<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(err) => Err(store_error(err)),
    }
}

/// Maps an SDK error to the store's classification, keeping it as the source.
pub(crate) fn store_error<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Rejected(Box::new(err))
    }
}
