//! Tracking tables across a binary upgrade: what a worker saves of its tables when
//! asked (`Update::SaveTables`, answered with `Event::Tables`), and what the new
//! process's workers are given back (`Update::RestoreTables`), by table name.

use serde::{Deserialize, Serialize};

use crate::rules::SavedEntry;

/// One table's entries, the most recently used first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTable {
    pub name: String,
    pub entries: Vec<SavedEntry>,
    /// Entries the worker left out (beyond the most it was asked for).
    #[serde(default)]
    pub left_out: usize,
}
