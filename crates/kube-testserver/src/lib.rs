//! A Kubernetes API server for tests (issue 4, in progress). It serves discovery, get, list,
//! create, replace, server-side apply and merge patches, delete and the `status` subresource
//! over an in-memory store, on 127.0.0.1 ([`TestServer`]) or in-process ([`router`]). Not shipped
//! in the binaries. The behaviours it reproduces, and those it does not, are listed in the
//! crate's README.md.

pub mod fieldpath;
pub mod registry;
mod server;
pub mod ssa;

pub use server::{TestServer, router};
