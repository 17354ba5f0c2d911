//! The JSON API's handlers, one module per area: what agents send (`agents`), the fleet views
//! (`views`), the evidence log and audits (`evidence`), overrides, rollouts and arrivals,
//! previews, and the hub's own health (`ops`). Each authenticates with an extractor of `app`,
//! answers an `api` type and fails with `app::Error`. The routes are `server`'s.

pub mod agents;
pub mod evidence;
pub mod ops;
pub mod overrides;
pub mod preview;
pub mod progress;
pub mod views;

/// The page size a list asks for: 100 by default, from 1 to 1,000.
pub(crate) fn page_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(100).clamp(1, 1_000)
}
