//! The pull-agent's library half: everything `main.rs` calls once arguments are parsed.
//!
//! Today it renders: a kustomization folder (`pull-agent render DIR`) and, in the local form,
//! every placement that selects a cluster of a fleet repository checked out in a folder. The
//! reconcile loop, git and Kubernetes adapters arrive with their issues; this crate holds the
//! IO (reading folders), and `flotilla-core` the logic.

pub mod folder;
pub mod local;
pub mod remote;
