//! learnbridge's domain: the words of DESIGN.md as types, and the rules that decide.
//!
//! Pure: no I/O, no AWS, no HTTP, no clock. Time is passed in as `now`.
//! Ports (the traits adapters implement) live in [`ports`], in domain terms.

pub mod attendance;
pub mod connection;
pub mod delivery;
pub mod egress;
pub mod email;
pub mod error;
pub mod ids;
pub mod job;
pub mod learning;
pub mod limits;
pub mod lln;
pub mod mask;
pub mod matching;
pub mod messages;
pub mod plan;
pub mod ports;
pub mod results;
pub mod run;
pub mod sis;
pub mod tenant;
pub mod transfer;
pub mod zone;

pub use connection::{Connection, ConnectionKind, ConnectionSettings};
pub use ids::{AssessableId, ConnectionId, IdError, LearnerCode, OfferingId, RunId, TenantId};
pub use job::{Job, QueueRole, Trigger};
pub use run::{LeaseOutcome, LogLevel, LogPage, LogTally, Run, RunLogLine, RunStatus};
