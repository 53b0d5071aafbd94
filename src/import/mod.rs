//! Bulk import of dataset files.

pub mod csv;
