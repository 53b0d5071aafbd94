//! Personalize's resources as streamrec stores them: their kinds, ARNs, statuses and the field checks
//! of botocore's model (names, ARNs, list sizes).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::AwsError;

/// A kind of resource, and the resource type in its ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// `dataset-group/NAME`.
    DatasetGroup,
    /// `schema/NAME`.
    Schema,
    /// `dataset/GROUP/TYPE`.
    Dataset,
    /// `dataset-import-job/NAME`.
    DatasetImportJob,
    /// `dataset-export-job/NAME`.
    DatasetExportJob,
    /// `solution/NAME`.
    Solution,
    /// `solution/NAME/VERSION`.
    SolutionVersion,
    /// `campaign/NAME`.
    Campaign,
    /// `event-tracker/ID`.
    EventTracker,
    /// `filter/NAME`.
    Filter,
    /// `batch-inference-job/NAME`.
    BatchInferenceJob,
    /// `data-deletion-job/NAME`.
    DataDeletionJob,
}

impl Kind {
    /// The resource type in ARNs.
    pub fn arn_type(self) -> &'static str {
        match self {
            Kind::DatasetGroup => "dataset-group",
            Kind::Schema => "schema",
            Kind::Dataset => "dataset",
            Kind::DatasetImportJob => "dataset-import-job",
            Kind::DatasetExportJob => "dataset-export-job",
            Kind::Solution | Kind::SolutionVersion => "solution",
            Kind::Campaign => "campaign",
            Kind::EventTracker => "event-tracker",
            Kind::Filter => "filter",
            Kind::BatchInferenceJob => "batch-inference-job",
            Kind::DataDeletionJob => "data-deletion-job",
        }
    }

    /// The name used in messages ("dataset group").
    pub fn label(self) -> &'static str {
        match self {
            Kind::DatasetGroup => "dataset group",
            Kind::Schema => "schema",
            Kind::Dataset => "dataset",
            Kind::DatasetImportJob => "dataset import job",
            Kind::DatasetExportJob => "dataset export job",
            Kind::Solution => "solution",
            Kind::SolutionVersion => "solution version",
            Kind::Campaign => "campaign",
            Kind::EventTracker => "event tracker",
            Kind::Filter => "filter",
            Kind::BatchInferenceJob => "batch inference job",
            Kind::DataDeletionJob => "data deletion job",
        }
    }

    /// Whether creating one runs work in the background (and so goes through the statuses).
    pub fn has_status(self) -> bool {
        self != Kind::Schema
    }
}

/// The statuses Personalize reports.
pub mod status {
    /// Accepted, work not started.
    pub const CREATE_PENDING: &str = "CREATE PENDING";
    /// Work running.
    pub const CREATE_IN_PROGRESS: &str = "CREATE IN_PROGRESS";
    /// Ready (or, for a job, finished).
    pub const ACTIVE: &str = "ACTIVE";
    /// Work failed; `failureReason` says why.
    pub const CREATE_FAILED: &str = "CREATE FAILED";
    /// A stop was requested while training.
    pub const CREATE_STOPPING: &str = "CREATE STOPPING";
    /// Training stopped on request.
    pub const CREATE_STOPPED: &str = "CREATE STOPPED";
}

/// One stored resource.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resource {
    /// Its kind.
    pub kind: Kind,
    /// Its ARN (the store's key).
    pub arn: String,
    /// The resource it belongs to, which List operations filter by: the dataset group (datasets,
    /// solutions, filters, trackers, deletion jobs), the dataset (import and export jobs), the solution
    /// (versions and campaigns) or the solution version (batch inference jobs).
    pub parent: Option<String>,
    /// What Describe returns, in the model's field names.
    pub doc: Map<String, Value>,
    /// State that is not part of the model (metrics, import reports, tracking ids).
    #[serde(default)]
    pub private: Map<String, Value>,
}

impl Resource {
    /// A new resource with this Describe document and no private state.
    pub fn new(kind: Kind, arn: &str, parent: Option<&str>, doc: Map<String, Value>) -> Resource {
        Resource { kind, arn: arn.to_string(), parent: parent.map(str::to_string), doc, private: Map::new() }
    }

    /// A string field of the document.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.doc.get(field).and_then(Value::as_str)
    }

    /// The status (`""` for resources without one).
    pub fn status(&self) -> &str {
        self.text("status").unwrap_or("")
    }
}

/// Seconds since the epoch, as the JSON protocols encode timestamps.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Where streamrec's ARNs live.
#[derive(Clone, Debug)]
pub struct ArnSpace {
    /// `region` of every ARN.
    pub region: String,
    /// `account` of every ARN.
    pub account: String,
}

impl ArnSpace {
    /// The ARN of a resource of `kind` with this path after the type (`NAME`, `GROUP/TYPE`, ...).
    pub fn arn(&self, kind: Kind, path: &str) -> String {
        format!("arn:aws:personalize:{}:{}:{}/{}", self.region, self.account, kind.arn_type(), path)
    }
}

/// The kind an ARN names, from its resource part (`solution/a/b` is a solution version).
pub fn kind_of(arn: &str) -> Option<Kind> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.split('/');
    let ty = parts.next()?;
    let depth = parts.count();
    Some(match (ty, depth) {
        ("dataset-group", 1) => Kind::DatasetGroup,
        ("schema", 1) => Kind::Schema,
        ("dataset", 2) => Kind::Dataset,
        ("dataset-import-job", 1) => Kind::DatasetImportJob,
        ("dataset-export-job", 1) => Kind::DatasetExportJob,
        ("solution", 1) => Kind::Solution,
        ("solution", 2) => Kind::SolutionVersion,
        ("campaign", 1) => Kind::Campaign,
        ("event-tracker", 1) => Kind::EventTracker,
        ("filter", 1) => Kind::Filter,
        ("batch-inference-job", 1) => Kind::BatchInferenceJob,
        ("data-deletion-job", 1) => Kind::DataDeletionJob,
        _ => return None,
    })
}

/// Reads a request's JSON fields with the model's checks; every error names the field.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    /// A required string.
    pub fn required(&self, field: &str) -> Result<&str, AwsError> {
        self.optional(field)?.ok_or_else(|| AwsError::invalid(format!("{field}: required")))
    }

    /// An optional string.
    pub fn optional(&self, field: &str) -> Result<Option<&str>, AwsError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(AwsError::invalid(format!("{field}: expected a string, got {other}"))),
        }
    }

    /// A required resource name (`Name` in the model: 1–63 of `[a-zA-Z0-9][a-zA-Z0-9\-_]*`).
    pub fn name(&self, field: &str) -> Result<&str, AwsError> {
        let name = self.required(field)?;
        check_name(field, name)?;
        Ok(name)
    }

    /// A required ARN of the given kind.
    pub fn arn(&self, field: &str, kind: Kind) -> Result<&str, AwsError> {
        let arn = self.required(field)?;
        check_arn(field, arn, kind)?;
        Ok(arn)
    }

    /// An optional ARN of the given kind.
    pub fn optional_arn(&self, field: &str, kind: Kind) -> Result<Option<&str>, AwsError> {
        let arn = self.optional(field)?;
        if let Some(arn) = arn {
            check_arn(field, arn, kind)?;
        }
        Ok(arn)
    }

    /// An optional boolean.
    pub fn flag(&self, field: &str) -> Result<bool, AwsError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(AwsError::invalid(format!("{field}: expected true or false, got {other}"))),
        }
    }

    /// An optional integer within `min..=max`.
    pub fn integer(&self, field: &str, min: i64, max: i64) -> Result<Option<i64>, AwsError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(AwsError::invalid(format!("{field}: {n} is outside {min}..={max}"))),
            },
            Some(other) => Err(AwsError::invalid(format!("{field}: expected an integer, got {other}"))),
        }
    }

    /// An optional object.
    pub fn object(&self, field: &str) -> Result<Option<&Map<String, Value>>, AwsError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(AwsError::invalid(format!("{field}: expected an object, got {other}"))),
        }
    }

    /// An optional map of strings to strings with at most `max` entries.
    pub fn string_map(&self, field: &str, max: usize) -> Result<Vec<(String, String)>, AwsError> {
        let Some(map) = self.object(field)? else { return Ok(Vec::new()) };
        if map.len() > max {
            return Err(AwsError::invalid(format!("{field}: {} entries; at most {max}", map.len())));
        }
        map.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(AwsError::invalid(format!("{field}.{k}: expected a string, got {other}"))),
            })
            .collect()
    }
}

/// Checks a `Name` of the model.
pub fn check_name(field: &str, name: &str) -> Result<(), AwsError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 63 {
        return Err(AwsError::invalid(format!("{field}: must be 1 to 63 characters, got {}", name.len())));
    }
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(AwsError::invalid(format!(
            "{field}: {name:?} must start with a letter or digit and contain only letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// Checks an `Arn` of the model and that it names a resource of `kind`.
pub fn check_arn(field: &str, arn: &str, kind: Kind) -> Result<(), AwsError> {
    if arn.len() > 256 || !arn.starts_with("arn:") || arn.split(':').count() < 6 {
        return Err(AwsError::invalid(format!(
            "{field}: {arn:?} is not an ARN (arn:aws:personalize:REGION:ACCOUNT:TYPE/NAME, at most 256 characters)"
        )));
    }
    match kind_of(arn) {
        Some(k) if k == kind => Ok(()),
        _ => Err(AwsError::invalid(format!("{field}: {arn:?} is not the ARN of a {}", kind.label()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip_to_their_kind() {
        let space = ArnSpace { region: "us-east-1".into(), account: "000000000000".into() };
        for (kind, path) in [
            (Kind::DatasetGroup, "shop"),
            (Kind::Dataset, "shop/INTERACTIONS"),
            (Kind::Solution, "s"),
            (Kind::SolutionVersion, "s/1a2b3c4d"),
            (Kind::EventTracker, "abc"),
            (Kind::BatchInferenceJob, "job"),
        ] {
            assert_eq!(kind_of(&space.arn(kind, path)), Some(kind), "{path}");
        }
        assert_eq!(kind_of("arn:aws:personalize:::recipe/aws-sims"), None);
        assert_eq!(kind_of("nonsense"), None);
    }

    #[test]
    fn names_follow_the_model() {
        assert!(check_name("name", "shop-1_a").is_ok());
        assert!(check_name("name", "").is_err());
        assert!(check_name("name", "-x").is_err());
        assert!(check_name("name", "a b").is_err());
        assert!(check_name("name", &"a".repeat(64)).unwrap_err().message.contains("1 to 63"));
    }

    #[test]
    fn arns_must_name_the_expected_kind() {
        let err = check_arn("campaignArn", "arn:aws:personalize:us-east-1:0:solution/x", Kind::Campaign).unwrap_err();
        assert_eq!(err.code, "InvalidInputException");
        assert!(err.message.contains("campaignArn") && err.message.contains("campaign"), "{}", err.message);
        assert!(check_arn("x", "not-an-arn", Kind::Campaign).is_err());
    }
}
