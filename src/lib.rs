//! stowaway: audits built container images for leaked secrets, credential
//! files and build residue, in every layer, deleted files included.

mod attest;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod config_scan;
mod dedupe;
pub mod dockerfile;
mod dockerfile_check;
pub mod image;
pub mod knownkey;
pub mod layer;
pub mod limits;
pub mod merge;
mod pipeline;
pub mod policy;
mod progress;
pub mod redact;
pub mod registry;
pub mod report;
pub mod rules;
pub mod scan_registry;
pub mod severity;
pub mod suppress;
mod tarwalk;
