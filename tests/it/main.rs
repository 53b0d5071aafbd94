//! streamrec's integration tests, as one test binary. Each module is one area a user meets (the CLI, the
//! HTTP server, the Personalize API through the AWS SDKs, recipes, filters); they share one link of the
//! whole dependency tree instead of one per file, which halves CI's build time and disk.

mod common;

mod cli;
mod filtering;
mod personalize_jobs;
mod personalize_rules;
mod personalize_sdk;
mod recipes;
mod server;
