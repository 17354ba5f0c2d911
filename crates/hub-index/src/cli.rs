//! What `hub-index`'s reading commands do once `main.rs` has parsed them: ask the hub through
//! [`Client`] and lay the answer out as a table ([`crate::table`]) or as the JSON the API
//! answered. Not the parsing (`main.rs`) and not the hub (`server`).

use std::path::Path;

use flotilla_core::register::url_component;

use crate::api::client::{
    ClustersQuery, ComplianceQuery, OverridesQuery, clusters_query, compliance_query, lag_query, overrides_query,
    preview_query,
};
use crate::api::{Client, Error};
use crate::table;

/// How a view is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    // Columns for people (no doc comments: clap would list the values long-form in --help).
    #[default]
    Table,
    // The JSON the API answered, indented.
    Json,
}

/// A view of the hub's, as the command line asks for it.
#[derive(Debug, Clone)]
pub enum View {
    Summary,
    Clusters(ClustersQuery),
    Cluster(String),
    Lag { placement: String, environment: String, offset: usize, limit: usize },
    Compliance(ComplianceQuery),
    Policy(String, ComplianceQuery),
    Overrides(OverridesQuery),
    Preview { reference: String, repository: String, environment: String },
}

impl View {
    /// The API's path and query for the view.
    fn request(&self) -> (String, Vec<(&'static str, String)>) {
        match self {
            View::Summary => ("/api/v1/summary".to_string(), Vec::new()),
            View::Clusters(q) => ("/api/v1/clusters".to_string(), clusters_query(q)),
            View::Cluster(name) => (format!("/api/v1/clusters/{}", url_component(name)), Vec::new()),
            View::Lag { placement, environment, offset, limit } => {
                ("/api/v1/lag".to_string(), lag_query(placement, environment, *offset, *limit))
            }
            View::Compliance(q) => ("/api/v1/compliance".to_string(), compliance_query(q, false)),
            View::Policy(policy, q) => {
                (format!("/api/v1/compliance/{}", url_component(policy)), compliance_query(q, true))
            }
            View::Overrides(q) => ("/api/v1/overrides".to_string(), overrides_query(q)),
            View::Preview { reference, repository, environment } => {
                ("/api/v1/preview".to_string(), preview_query(reference, repository, environment))
            }
        }
    }
}

/// Fetches `view` and lays it out in `format`; `now_ms` (unix milliseconds) dates the ages a
/// table shows.
pub async fn show(client: &Client, view: &View, format: Format, now_ms: i64) -> Result<String, Error> {
    if format == Format::Json {
        let (path, query) = view.request();
        let value: serde_json::Value = client.get(&path, &query).await?;
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value).expect("JSON values serialize")));
    }
    Ok(match view {
        View::Summary => table::summary(&client.summary().await?),
        View::Clusters(q) => table::clusters(&client.clusters(q).await?),
        View::Cluster(name) => table::cluster(&client.cluster(name).await?, now_ms),
        View::Lag { placement, environment, offset, limit } => {
            table::ledger(&client.lag(placement, environment, *offset, *limit).await?)
        }
        View::Compliance(q) => table::compliance(&client.compliance(q).await?),
        View::Policy(policy, q) => table::policy(&client.compliance_policy(policy, q).await?),
        View::Overrides(q) => table::overrides(&client.overrides(q).await?),
        View::Preview { reference, repository, environment } => {
            crate::preview::table(&client.preview(reference, repository, environment).await?)
        }
    })
}

/// The hub's client with a viewer token: the file's, else `FLOTILLA_HUB_TOKEN`'s, else none.
pub fn client(hub: &str, token_file: Option<&Path>) -> std::io::Result<Client> {
    let token = match token_file {
        Some(f) => Some(std::fs::read_to_string(f)?),
        None => std::env::var("FLOTILLA_HUB_TOKEN").ok(),
    };
    Ok(Client::with_http(hub, reqwest::Client::new()).with_token(token.as_deref()))
}
