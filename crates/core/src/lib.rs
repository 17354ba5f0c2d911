//! Flotilla's core: plain data and pure functions, shared by the pull-agent and the hub-index.
//!
//! It reads a fleet repository snapshot into the fleet model ([`fleet`]), selects what applies
//! to a cluster ([`selector`]), renders sources as `kubectl kustomize` does ([`kustomize`]),
//! applies a placement's customizations and substitution ([`render`]) and names the result by
//! a [`digest::Digest`]. Reading the cluster back, it judges live objects' [`health`] and their
//! [`drift`] from what was applied, [`plan`]s a sync, evaluates [`policy`] compliance, and it
//! defines the agent's [`report`] to the hub, which reports its [`spool`] keeps, and how it
//! [`register`]s. It is not an IO library:
//! no files, network, git, clock or Kubernetes client here (a tidy test checks the dependency
//! list), so the agent and the hub compute the same answer from the same inputs, and a test is
//! a function call.

pub mod calendar;
pub mod digest;
pub mod drift;
pub mod fleet;
pub mod health;
pub mod helm;
pub mod json_patch;
pub mod kustomize;
pub mod name;
pub mod plan;
pub mod policy;
pub mod register;
pub mod render;
pub mod report;
pub mod rollout;
pub mod scope;
pub mod selector;
pub mod snapshot;
pub mod spool;
pub mod yaml;
