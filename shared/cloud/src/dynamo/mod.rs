//! DynamoDB: a generic [`Table`] over `pk`/`sk` string keys with serde records,
//! and the repositories implementing the domain's store ports with the key
//! layout of docs/architecture.md (see [`keys`]).

mod api_keys;
mod attendance;
mod connections;
pub mod deliveries;
pub mod keys;
mod links;
mod lln;
mod record;
mod results;
mod runs;
mod sessions;
mod sis;
mod table;
mod tenants;

pub use api_keys::{ApiKey, DynamoApiKeyStore};
pub use attendance::DynamoAttendanceStore;
pub use connections::DynamoConnectionStore;
pub use links::DynamoLinkStore;
pub use lln::{API_CALL_RETENTION_DAYS, DynamoLlnStore};
pub use record::RecordError;
pub use results::DynamoResultStore;
pub use runs::{DynamoRunStore, RunStoreError};
pub use sessions::DynamoSessionStore;
pub use sis::{DynamoSisStore, IndexedOfferings};
pub use table::BATCH_GET_MAX;
pub use table::{BATCH_WRITE_MAX, Condition, Item, QueryOptions, SkRange, Table, TableError};
pub use tenants::{DynamoTenantSettingsStore, TENANT_SETTINGS};
