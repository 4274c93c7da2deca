//! Turning stored records back into domain types.

use domain::IdError;
use domain::ports::StoreError;

/// Why a stored record is not a valid domain value.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("a stored id is invalid")]
    Id(#[from] IdError),
    #[error("the record's fields do not match its key")]
    KeyMismatch,
}

pub(crate) fn parse_id<T: TryFrom<String, Error = IdError>>(
    value: String,
) -> Result<T, RecordError> {
    Ok(T::try_from(value)?)
}

pub(crate) fn corrupt(what: &str, source: RecordError) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        source: Box::new(source),
    }
}
