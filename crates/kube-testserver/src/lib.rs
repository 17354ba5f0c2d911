//! A Kubernetes API server for tests (issue 4, in progress): the semantics it reproduces are
//! pure modules first, the HTTP surface comes next.

pub mod fieldpath;
pub mod ssa;
