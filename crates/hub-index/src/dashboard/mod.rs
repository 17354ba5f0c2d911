//! The web dashboard: server-rendered HTML of the same views as the JSON API — the fleet summary
//! (`/`), the cluster list (`/clusters`, paged and filtered), one cluster (`/clusters/{name}`),
//! the lag ledger (`/lag`), and governance (`/compliance`: standards → controls → policies;
//! `/compliance/{policy}`: one policy's non-compliant clusters, paged and filtered), the
//! overrides (`/overrides`: each commit run through a change freeze, its signer, reason and
//! clusters), and the preview of a merge (`/preview`: what moving a repository's branch to a
//! ref would change, with the pending promotions to pick from); and the audit as a document
//! (`audit`). Every page but the preview refreshes itself every ten seconds, and each says when
//! it was rendered. No JavaScript at all: filters are GET forms, paging is links.
//!
//! Reads need a viewer token (`login`). The pages read the in-memory index like the JSON views,
//! so they stay fast at 100,000 clusters; only a cluster's own page and the overrides (few rows)
//! ask the store.
//!
//! The HTML is written with `maud`'s `html!` templates, which escape every value put into a
//! page, in element content and attribute values alike: labels, names, commit messages and
//! policy texts are free text that agents and commit authors control. Only this crate's own
//! constant CSS is put in unescaped (`PreEscaped`, with the reason beside it). The pages are
//! served with a Content-Security-Policy that allows no script besides.
//!
//! One module per page or area, each importing only `layout` (the frame), `parts` (small
//! shared pieces), `form` (request text) and `login` (the viewer check) besides the crate's
//! lower layers; this file only names them.
//!
//! Not an API: scripts read `/api/v1/…`; the HTML may change at any time.

mod audit;
mod cluster;
mod clusters;
mod compliance;
mod form;
mod lag;
mod layout;
mod login;
mod overrides;
mod parts;
mod preview;
mod summary;
mod trends;

pub use audit::audit_page;
pub use cluster::cluster;
pub use clusters::clusters;
pub use compliance::{compliance, compliance_policy};
pub use form::{cookie, decode, encode, parse_form};
pub use lag::lag;
pub use login::{COOKIE, login, login_form, logout};
pub use overrides::overrides;
pub use parts::PAGE;
pub use preview::preview;
pub use summary::summary;

#[cfg(test)]
mod tests;
