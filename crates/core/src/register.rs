//! Registration (agent → hub), the exchange of a join token for a cluster's own token:
//! `POST /api/v1/register` with the join token as bearer token and a [`Request`] body; the hub
//! answers with a [`Response`] holding the token the cluster reports with from then on. Defined
//! once here, like the report, so that both sides read and write the same bytes.
//!
//! Not the transport, token storage or token hashing (the agent and the hub own those).

use std::collections::BTreeMap;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Where an agent registers.
pub const PATH: &str = "/api/v1/register";

/// Where an agent sends its reports.
pub const REPORTS_PATH: &str = "/api/v1/reports";

/// The cluster asking to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// The cluster's name; the join token may allow only names of a pattern (`store-*`).
    pub cluster: String,
    pub environment: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The hub's answer: the cluster's token, shown this once (the hub keeps only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Response {
    pub cluster: String,
    pub token: String,
}

impl Request {
    /// What is wrong with the request, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        crate::name::DnsSubdomain::check(&self.cluster).map_err(|e| format!("cluster {e}"))?;
        if self.environment.is_empty() || self.environment.len() > 253 || self.environment.contains(char::is_whitespace)
        {
            return Err(format!("environment {:?} is not a branch name", self.environment));
        }
        Ok(())
    }
}

impl Response {
    /// What is wrong with the answer: a token the agent could not send as a bearer token.
    pub fn validate(&self) -> Result<(), String> {
        let printable = self.token.bytes().all(|b| b.is_ascii_graphic());
        if self.token.len() < 16 || self.token.len() > 4_096 || !printable {
            return Err("token is not 16 to 4096 printable ASCII characters".into());
        }
        Ok(())
    }
}

/// `text` as one component of a URL path or query between agent, hub and viewers: every byte
/// but the unreserved ones (RFC 3986: letters, digits, `-._~`) percent-encoded.
pub fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_camel_case_and_strict() {
        let request = Request {
            cluster: "store-0042".into(),
            environment: "prod".into(),
            labels: BTreeMap::from([("kind".into(), "store".into())]),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"cluster":"store-0042","environment":"prod","labels":{"kind":"store"}}"#);
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
        let unknown = serde_json::from_str::<Request>(r#"{"cluster":"a","environment":"prod","role":"admin"}"#);
        assert!(unknown.unwrap_err().to_string().contains("unknown field `role`"));
        assert!(request.validate().is_ok());
        let bad = Request { cluster: "Store_42".into(), ..request.clone() };
        assert!(bad.validate().unwrap_err().starts_with("cluster \"Store_42\""));
        let bad = Request { environment: "pr od".into(), ..request };
        assert!(bad.validate().unwrap_err().starts_with("environment"));
    }

    #[test]
    fn a_token_must_be_sendable_as_a_bearer_token() {
        let ok = Response { cluster: "store-0042".into(), token: "flt_0123456789abcdef".into() };
        assert!(ok.validate().is_ok());
        assert!(Response { token: "short".into(), ..ok.clone() }.validate().is_err());
        assert!(Response { token: "flt_0123456789abcdef\nX-Evil: 1".into(), ..ok }.validate().is_err());
    }
}
