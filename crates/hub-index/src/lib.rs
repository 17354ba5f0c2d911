//! The hub's library half: everything `main.rs` calls once arguments are parsed.
//!
//! `store` keeps tokens, clusters and reports in SQLite or PostgreSQL; `fleet` reads the fleet
//! and source repositories with `flotilla-git` (heads, first-parent history, what each cluster
//! should run); the hub never connects to a cluster.

pub mod api;
pub mod arrivals;
pub mod audit;
pub mod dashboard;
pub mod fleet;
pub mod index;
pub mod overrides;
pub mod preview;
pub mod rollouts;
pub mod server;
pub mod store;
pub mod table;
pub mod testing;
pub mod trends;
pub mod views;
