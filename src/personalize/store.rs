//! The catalog of Personalize resources in an embedded transactional database (redb): one table from
//! ARN to the resource's JSON. Every change is one committed write transaction, so a crash leaves either
//! the old or the new state of a resource, never a torn file.

use std::path::Path;

use anyhow::Context;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::error::AwsError;
use super::resource::{Kind, Resource};

const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("resources");

/// The resource catalog.
pub struct ResourceStore {
    db: Database,
}

impl ResourceStore {
    /// Opens (or creates) the catalog file.
    pub fn open(path: &Path) -> anyhow::Result<ResourceStore> {
        let db = Database::create(path).with_context(|| format!("opening the resource catalog {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(RESOURCES)?;
        txn.commit()?;
        Ok(ResourceStore { db })
    }

    /// The resource with this ARN.
    pub fn get(&self, arn: &str) -> Result<Option<Resource>, AwsError> {
        let txn = self.db.begin_read().map_err(AwsError::internal)?;
        let table = txn.open_table(RESOURCES).map_err(AwsError::internal)?;
        let Some(bytes) = table.get(arn).map_err(AwsError::internal)? else { return Ok(None) };
        decode(bytes.value()).map(Some)
    }

    /// The resource with this ARN, which must exist and be of `kind`.
    pub fn expect(&self, arn: &str, kind: Kind) -> Result<Resource, AwsError> {
        match self.get(arn)? {
            Some(r) if r.kind == kind => Ok(r),
            _ => Err(AwsError::not_found(format!("{} {arn}", kind.label()))),
        }
    }

    /// Adds a new resource; fails if the ARN is taken.
    pub fn create(&self, resource: &Resource) -> Result<(), AwsError> {
        let bytes = serde_json::to_vec(resource).map_err(AwsError::internal)?;
        let txn = self.db.begin_write().map_err(AwsError::internal)?;
        {
            let mut table = txn.open_table(RESOURCES).map_err(AwsError::internal)?;
            if table.get(resource.arn.as_str()).map_err(AwsError::internal)?.is_some() {
                return Err(AwsError::already_exists(&resource.arn));
            }
            table.insert(resource.arn.as_str(), bytes.as_slice()).map_err(AwsError::internal)?;
        }
        txn.commit().map_err(AwsError::internal)
    }

    /// Applies `change` to a resource atomically and returns the result; `None` if it no longer exists
    /// (deleted while its work ran).
    pub fn update(
        &self,
        arn: &str,
        change: impl FnOnce(&mut Resource) -> Result<(), AwsError>,
    ) -> Result<Option<Resource>, AwsError> {
        let txn = self.db.begin_write().map_err(AwsError::internal)?;
        let updated = {
            let mut table = txn.open_table(RESOURCES).map_err(AwsError::internal)?;
            let current = match table.get(arn).map_err(AwsError::internal)? {
                Some(bytes) => decode(bytes.value())?,
                None => return Ok(None),
            };
            let mut resource = current;
            change(&mut resource)?;
            let bytes = serde_json::to_vec(&resource).map_err(AwsError::internal)?;
            table.insert(arn, bytes.as_slice()).map_err(AwsError::internal)?;
            resource
        };
        txn.commit().map_err(AwsError::internal)?;
        Ok(Some(updated))
    }

    /// Removes a resource; returns whether it existed.
    pub fn delete(&self, arn: &str) -> Result<bool, AwsError> {
        let txn = self.db.begin_write().map_err(AwsError::internal)?;
        let existed = {
            let mut table = txn.open_table(RESOURCES).map_err(AwsError::internal)?;
            let removed = table.remove(arn).map_err(AwsError::internal)?;
            removed.is_some()
        };
        txn.commit().map_err(AwsError::internal)?;
        Ok(existed)
    }

    /// Every resource of `kind` (with this parent, if given), newest first.
    pub fn list(&self, kind: Kind, parent: Option<&str>) -> Result<Vec<Resource>, AwsError> {
        let txn = self.db.begin_read().map_err(AwsError::internal)?;
        let table = txn.open_table(RESOURCES).map_err(AwsError::internal)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(AwsError::internal)? {
            let (_, bytes) = entry.map_err(AwsError::internal)?;
            let resource = decode(bytes.value())?;
            if resource.kind == kind && parent.is_none_or(|p| resource.parent.as_deref() == Some(p)) {
                out.push(resource);
            }
        }
        let created = |r: &Resource| r.doc.get("creationDateTime").and_then(|v| v.as_f64()).unwrap_or(0.0);
        out.sort_by(|a, b| created(b).total_cmp(&created(a)).then_with(|| a.arn.cmp(&b.arn)));
        Ok(out)
    }

    /// Every resource, in ARN order (start-up recovery).
    pub fn all(&self) -> Result<Vec<Resource>, AwsError> {
        let txn = self.db.begin_read().map_err(AwsError::internal)?;
        let table = txn.open_table(RESOURCES).map_err(AwsError::internal)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(AwsError::internal)? {
            let (_, bytes) = entry.map_err(AwsError::internal)?;
            out.push(decode(bytes.value())?);
        }
        Ok(out)
    }
}

fn decode(bytes: &[u8]) -> Result<Resource, AwsError> {
    serde_json::from_slice(bytes).map_err(|e| AwsError::internal(format!("corrupt catalog entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(arn: &str, parent: Option<&str>, created: f64) -> Resource {
        let doc = json!({"name": arn, "creationDateTime": created}).as_object().unwrap().clone();
        Resource {
            kind: Kind::Filter,
            arn: arn.into(),
            parent: parent.map(str::to_string),
            doc,
            private: Default::default(),
        }
    }

    #[test]
    fn resources_survive_reopening_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        {
            let store = ResourceStore::open(&path).unwrap();
            store.create(&resource("a", Some("g1"), 1.0)).unwrap();
            store.create(&resource("b", Some("g1"), 2.0)).unwrap();
            store.create(&resource("c", Some("g2"), 3.0)).unwrap();
            assert_eq!(store.create(&resource("a", None, 9.0)).unwrap_err().code, "ResourceAlreadyExistsException");
            store
                .update("a", |r| {
                    r.doc.insert("status".into(), json!("ACTIVE"));
                    Ok(())
                })
                .unwrap();
            assert!(store.delete("c").unwrap());
            assert!(!store.delete("c").unwrap());
        }
        let store = ResourceStore::open(&path).unwrap();
        let names: Vec<String> = store.list(Kind::Filter, Some("g1")).unwrap().into_iter().map(|r| r.arn).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(store.get("a").unwrap().unwrap().status(), "ACTIVE");
        assert!(store.get("c").unwrap().is_none());
        assert_eq!(store.expect("a", Kind::Campaign).unwrap_err().code, "ResourceNotFoundException");
    }
}
