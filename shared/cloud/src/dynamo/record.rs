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

/// What can be read of an item that did not decode: its key and, when they
/// parse, the tenant and the connection it belongs to (`connection_attr` names
/// the attribute holding the connection's id).
pub(crate) fn unreadable(
    item: &super::table::Item,
    connection_attr: &str,
    error: &StoreError,
) -> domain::ports::UnreadableRecord {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    domain::ports::UnreadableRecord {
        key: format!("{} / {}", text("pk"), text("sk")),
        tenant: domain::TenantId::parse(text("tenant")).ok(),
        connection: domain::ConnectionId::parse(text(connection_attr)).ok(),
        reason: innermost(error),
    }
}

/// The innermost cause of a decoding error: what a person must repair (the
/// attribute's path and what is wrong with it), without the table's name.
pub(crate) fn innermost(error: &StoreError) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
