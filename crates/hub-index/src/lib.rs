//! The hub's library half: everything `main.rs` calls once arguments are parsed.
//!
//! In layers, each importing only those below it (ARCHITECTURE.md has the map): the API's types
//! and client (`api`); the pure half, which knows no HTTP or database (`index`, `views`,
//! `progress`, `preview`, `overrides`, `audit`, `trends`, `table`, `records`, and `git_view`, the
//! git view); and, with the `server` feature, the store (`store`, `arrivals`), the application
//! layer (`app`, `answers`), the JSON handlers (`http`), the pages (`dashboard`) and the routes
//! (`server`). The hub never connects to a cluster.

#[cfg(feature = "server")]
pub mod answers;
pub mod api;
#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod arrivals;
pub mod audit;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod dashboard;
pub mod git_view;
#[cfg(feature = "server")]
pub mod http;
pub mod index;
pub mod overrides;
pub mod preview;
pub mod progress;
pub mod records;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
pub mod table;
#[cfg(feature = "server")]
pub mod testing;
pub mod trends;
pub mod views;
