//! The pull-agent's library half: everything `main.rs` calls once arguments are parsed
//! ([`command`], one function per command; what it says goes through [`log`]).
//!
//! It renders (a kustomization folder, a fleet repository checked out in a folder, a source
//! straight from git) and reconciles: [`agent`] fetches and renders what selects the cluster,
//! [`sync`] plans and applies each placement through [`cluster`] (kube-rs), and [`govern`]
//! evaluates (and enforces) the policies. [`daemon`] runs
//! that forever and reports each cycle to the hub through [`hub`], keeping what the hub has not
//! taken in the [`spool`]. This crate holds the IO; `flotilla-core` the logic.

pub mod agent;
pub mod arrivals;
pub mod check;
pub mod cluster;
pub mod command;
pub mod config;
pub mod daemon;
pub mod folder;
pub mod govern;
pub mod hub;
pub mod local;
pub mod log;
pub mod remote;
pub mod shutdown;
pub mod spool;
pub mod sync;
pub mod trust;
pub mod watch;
