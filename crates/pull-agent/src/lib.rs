//! The pull-agent's library half: everything `main.rs` calls once arguments are parsed.
//!
//! It renders (a kustomization folder, a fleet repository checked out in a folder, a source
//! straight from git) and reconciles: [`agent`] fetches and renders what selects the cluster,
//! [`sync`] plans and applies each placement through [`cluster`] (kube-rs). This crate holds the
//! IO; `flotilla-core` the logic.

pub mod agent;
pub mod cluster;
pub mod config;
pub mod folder;
pub mod local;
pub mod remote;
pub mod sync;
