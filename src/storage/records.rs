//! The records of the event log, and their encoding (bincode 1).

use serde::{Deserialize, Serialize};

use crate::model::ids::IdSpace;
use crate::model::record::{ItemRecord, UserRecord, Value};
use crate::model::schema::DatasetType;

/// The optional parts of an interaction, logged only when present so the common record stays small.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct InteractionDetails {
    /// `EVENT_VALUE`.
    pub event_value: Option<f64>,
    /// `IMPRESSION`: item ids shown with the interaction.
    pub impression: Vec<String>,
    /// `RECOMMENDATION_ID`.
    pub recommendation_id: Option<String>,
    /// Metadata (context) fields.
    pub metadata: Vec<(String, Value)>,
}

impl InteractionDetails {
    /// Whether there is nothing to log.
    pub fn is_empty(&self) -> bool {
        self.event_value.is_none()
            && self.impression.is_empty()
            && self.recommendation_id.is_none()
            && self.metadata.is_empty()
    }
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LogRecord {
    /// A new external id was assigned a dense id (logged before its first use).
    Intern {
        /// Which interner.
        space: IdSpace,
        /// The dense id.
        id: u32,
        /// The external name.
        name: String,
    },
    /// An accepted interaction.
    Interaction {
        /// The interaction in dense ids.
        event: dataflows::Interaction,
        /// Optional fields, when any is present.
        details: Option<Box<InteractionDetails>>,
    },
    /// An item record was put (replacing an earlier one).
    Item {
        /// Dense item id.
        item: u32,
        /// The record.
        record: ItemRecord,
    },
    /// A user record was put (replacing an earlier one).
    User {
        /// Dense user id.
        user: u32,
        /// The record.
        record: UserRecord,
    },
    /// Every interaction of a user was deleted.
    DeleteUser {
        /// Dense user id.
        user: u32,
    },
    /// A FULL import replaced a dataset: everything before it in that dataset is gone.
    Clear {
        /// Which dataset.
        dataset: DatasetType,
    },
    /// An item was deleted: its record is gone and it is never recommended again (its interactions stay in
    /// users' histories) until a new record is put. Last variant, so older logs still decode.
    DeleteItem {
        /// Dense item id.
        item: u32,
    },
    /// Where the records that follow came from, until the next marker: an import job (bulk) or the live
    /// API. Exports choose by it (Personalize's `ingestionMode`).
    Source {
        /// Whether they came from a bulk import.
        bulk: bool,
    },
}

impl LogRecord {
    /// Encodes for the log.
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("log records always serialise")
    }

    /// Decodes a logged payload.
    pub fn decode(bytes: &[u8]) -> Result<LogRecord, String> {
        bincode::deserialize(bytes).map_err(|e| format!("undecodable log record: {e}"))
    }
}
