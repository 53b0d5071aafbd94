//! The catalog of a dataset group: id interners and the latest item and user records.
//!
//! It is rebuilt from the log on start ([`Catalog::replay`]) and kept current by the sequencer, its only
//! writer; request threads read it to translate external ids.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dataflows::{ContextEvent, ItemId, Op, UserId};

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
    /// Items never to recommend: deleted ones, and those whose record has `HIDDEN` set to true. Shared
    /// copy-on-write, so a query takes a snapshot without holding the catalog lock.
    pub hidden: Arc<HashSet<ItemId>>,
    /// Whether the records being logged or replayed now come from a bulk import.
    pub bulk: bool,
    /// Items and users whose latest record came from a bulk import.
    pub bulk_records: HashSet<(DatasetType, u32)>,
}

/// The context values of an interaction's metadata: `FIELD=value` (field upper-cased) for every string
/// value and every category of a categorical value. Requests name contexts the same way (`DEVICE`: `phone`).
pub fn context_names(metadata: &[(String, crate::model::record::Value)]) -> Vec<String> {
    use crate::model::record::Value;
    let mut out = Vec::new();
    for (field, value) in metadata {
        let field = field.to_ascii_uppercase();
        match value {
            Value::String(s) if !s.is_empty() => out.push(format!("{field}={s}")),
            Value::Categories(values) => out.extend(values.iter().map(|v| format!("{field}={v}"))),
            _ => {}
        }
    }
    // A repeated category (`a|a`) is one context value, so an item's count in a context never exceeds its
    // interactions.
    out.sort_unstable();
    out.dedup();
    out
}

/// The item field that hides an item from every answer while true (PutItems property `hidden`).
pub const HIDDEN_FIELD: &str = "HIDDEN";

/// Whether an item record asks to be hidden.
pub fn is_hidden_record(record: &ItemRecord) -> bool {
    use crate::model::record::Value;
    record.fields.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case(HIDDEN_FIELD)
            && match value {
                Value::Bool(b) => *b,
                Value::Int(i) => *i != 0,
                Value::String(s) => s.eq_ignore_ascii_case("true"),
                _ => false,
            }
    })
}

impl Catalog {
    /// Applies a logged record to the catalog, appending the dataflow operations it stands for to `ops`.
    pub fn replay(&mut self, record: LogRecord, ops: &mut Vec<Op>) -> Result<(), String> {
        if let LogRecord::Interaction { event, details } = &record {
            ops.push(Op::Insert(*event));
            for name in context_names(details.as_ref().map_or(&[][..], |d| &d.metadata[..])) {
                if let Some(context) = self.ids.contexts.get(&name) {
                    ops.push(Op::Context(ContextEvent { user: event.user, item: event.item, context }));
                }
            }
            return Ok(());
        }
        let op = match record {
            LogRecord::Intern { space, id, name } => {
                self.ids.space_mut(space).restore(id, &name)?;
                None
            }
            LogRecord::Interaction { .. } => None,
            LogRecord::Item { item, record } => {
                self.put_item(item, record);
                None
            }
            LogRecord::Source { bulk } => {
                self.bulk = bulk;
                None
            }
            LogRecord::DeleteItem { item } => {
                self.delete_item(item);
                None
            }
            LogRecord::User { user, record } => {
                self.put_user(user, record);
                None
            }
            LogRecord::DeleteUser { user } => {
                self.forget_user(user);
                Some(Op::DeleteUser(user))
            }
            LogRecord::Clear { dataset } => match dataset {
                DatasetType::Interactions => Some(Op::Clear),
                DatasetType::Items => {
                    // A FULL items import replaces the catalogue, hidden and deleted marks included.
                    self.items.clear();
                    self.hidden = Arc::default();
                    None
                }
                DatasetType::Users => {
                    self.users.clear();
                    None
                }
            },
        };
        ops.extend(op);
        Ok(())
    }

    /// Forgets a user's record (their interactions are retracted by the dataflow operation that goes with it).
    pub fn forget_user(&mut self, user: UserId) {
        self.users.remove(&user);
        self.bulk_records.remove(&(DatasetType::Users, user));
    }

    /// Stores a user's latest record.
    pub fn put_user(&mut self, user: UserId, record: UserRecord) {
        self.mark_source(DatasetType::Users, user);
        self.users.insert(user, record);
    }

    fn mark_source(&mut self, dataset: DatasetType, id: u32) {
        if self.bulk {
            self.bulk_records.insert((dataset, id));
        } else {
            self.bulk_records.remove(&(dataset, id));
        }
    }

    /// Whether an item's or user's latest record came from a bulk import.
    pub fn is_bulk(&self, dataset: DatasetType, id: u32) -> bool {
        self.bulk_records.contains(&(dataset, id))
    }

    /// Stores an item's latest record, hiding or showing the item by its `HIDDEN` field.
    pub fn put_item(&mut self, item: ItemId, record: ItemRecord) {
        self.mark_source(DatasetType::Items, item);
        let hide = is_hidden_record(&record);
        if hide != self.hidden.contains(&item) {
            let mut hidden = (*self.hidden).clone();
            if hide {
                hidden.insert(item);
            } else {
                hidden.remove(&item);
            }
            self.hidden = Arc::new(hidden);
        }
        self.items.insert(item, record);
    }

    /// Forgets an item's record and hides it.
    pub fn delete_item(&mut self, item: ItemId) {
        self.items.remove(&item);
        if !self.hidden.contains(&item) {
            let mut hidden = (*self.hidden).clone();
            hidden.insert(item);
            self.hidden = Arc::new(hidden);
        }
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
