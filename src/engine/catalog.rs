//! The catalog of a dataset group: id interners and the latest item and user records.
//!
//! It is rebuilt from the log on start ([`Catalog::replay`]) and kept current by the sequencer, its only
//! writer; request threads read it to translate external ids.

use std::collections::HashMap;

use dataflows::{ItemId, Op, UserId};

use crate::model::ids::{IdSpace, Ids};
use crate::model::record::{ItemRecord, UserRecord};
use crate::model::schema::DatasetType;
use crate::storage::records::LogRecord;

/// Interners and metadata records.
#[derive(Debug, Default)]
pub struct Catalog {
    /// External ↔ dense ids.
    pub ids: Ids,
    /// Latest record per item.
    pub items: HashMap<ItemId, ItemRecord>,
    /// Latest record per user.
    pub users: HashMap<UserId, UserRecord>,
}

impl Catalog {
    /// Applies a logged record to the catalog, returning the dataflow operation it stands for, if any.
    pub fn replay(&mut self, record: LogRecord) -> Result<Option<Op>, String> {
        Ok(match record {
            LogRecord::Intern { space, id, name } => {
                self.ids.space_mut(space).restore(id, &name)?;
                None
            }
            LogRecord::Interaction { event, .. } => Some(Op::Insert(event)),
            LogRecord::Item { item, record } => {
                self.items.insert(item, record);
                None
            }
            LogRecord::User { user, record } => {
                self.users.insert(user, record);
                None
            }
            LogRecord::DeleteUser { user } => Some(Op::DeleteUser(user)),
            LogRecord::Clear { dataset } => match dataset {
                DatasetType::Interactions => Some(Op::Clear),
                DatasetType::Items => {
                    self.items.clear();
                    None
                }
                DatasetType::Users => {
                    self.users.clear();
                    None
                }
            },
        })
    }

    /// The dense id of `name`, assigning one if new; a new assignment is pushed to `log` first.
    pub fn intern(&mut self, space: IdSpace, name: &str, log: &mut Vec<LogRecord>) -> u32 {
        let (id, new) = self.ids.space_mut(space).intern(name);
        if new {
            log.push(LogRecord::Intern { space, id, name: name.to_string() });
        }
        id
    }

    /// Dense id of a user, if known.
    pub fn user(&self, name: &str) -> Option<UserId> {
        self.ids.users.get(name)
    }

    /// Dense id of an item, if known.
    pub fn item(&self, name: &str) -> Option<ItemId> {
        self.ids.items.get(name)
    }

    /// External name of an item.
    pub fn item_name(&self, item: ItemId) -> &str {
        self.ids.items.name(item).unwrap_or("")
    }

    /// Dense id of an event type, if known.
    pub fn event_type(&self, name: &str) -> Option<u16> {
        self.ids.event_types.get(name).map(|id| id as u16)
    }
}
