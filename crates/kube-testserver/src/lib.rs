//! A Kubernetes API server for tests. It serves discovery, get, list, watch, create, replace,
//! patch (server-side apply, merge, JSON and strategic merge), delete with finalizers and the
//! `status` subresource over an in-memory store, simulates the controllers that make workloads
//! available, and injects faults — on 127.0.0.1 ([`TestServer`]) or in-process as a tower
//! service ([`Cluster::router`]). It can record the authorization check of every request it
//! serves, and [`rbac`] says whether a Role or ClusterRole allows them. Not shipped in the
//! binaries. The behaviours it reproduces, and
//! those it does not, are listed in the crate's README.md.

pub mod controller;
pub mod fieldpath;
pub mod patch;
pub mod rbac;
pub mod registry;
pub mod select;
mod server;
pub mod ssa;
pub mod validate;

pub use server::{Cluster, Options, TestServer, router};
