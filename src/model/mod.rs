//! What streamrec's data is: dataset schemas, typed records, and the interning of external ids.

pub mod ids;
pub mod record;
pub mod schema;
