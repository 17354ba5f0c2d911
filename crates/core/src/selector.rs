//! Kubernetes label selectors (`matchLabels`, `matchExpressions`) over a set of labels.
//!
//! The same semantics as `metav1.LabelSelector`: every term must hold; an empty selector selects
//! everything. Validation happens when a selector is read, so matching cannot fail.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels of a cluster or an object.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A selector that is well-formed YAML but means nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("matchExpressions[{index}]: operator {operator:?} needs at least one value")]
    ValuesRequired { index: usize, operator: Operator },
    #[error("matchExpressions[{index}]: operator {operator:?} takes no values")]
    ValuesForbidden { index: usize, operator: Operator },
    #[error("matchExpressions[{index}]: the key is empty")]
    EmptyKey { index: usize },
}

impl LabelSelector {
    /// Checks the rules the Kubernetes API server applies to selectors.
    pub fn validate(&self) -> Result<(), Error> {
        for (index, r) in self.match_expressions.iter().enumerate() {
            if r.key.is_empty() {
                return Err(Error::EmptyKey { index });
            }
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err(Error::ValuesRequired { index, operator: r.operator });
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err(Error::ValuesForbidden { index, operator: r.operator });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `labels` satisfy every term of the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            // As in Kubernetes, NotIn also selects objects without the label.
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// Parses the `a=b,c=d` form of labels used on the command line.
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("label {pair:?} is not of the form key=value"))?;
        if k.is_empty() {
            return Err(format!("label {pair:?} has an empty key"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Labels {
        parse_labels(text).unwrap()
    }

    fn selector(yaml: &str) -> LabelSelector {
        let v = crate::yaml::load_one(yaml.as_bytes()).unwrap();
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn match_labels_and_expressions() {
        let s = selector(
            "matchLabels: {kind: store}\nmatchExpressions:\n- {key: region, operator: In, values: [us-east, us-west]}\n- {key: canary, operator: NotIn, values: [\"true\"]}\n- {key: retired, operator: DoesNotExist}\n- {key: tier, operator: Exists}\n",
        );
        assert!(s.matches(&labels("kind=store,region=us-east,tier=1")));
        assert!(s.matches(&labels("kind=store,region=us-west,tier=1,canary=false")));
        assert!(!s.matches(&labels("kind=store,region=us-west,tier=1,canary=true")));
        assert!(!s.matches(&labels("kind=store,region=eu-west,tier=1")));
        assert!(!s.matches(&labels("kind=store,region=us-east")));
        assert!(!s.matches(&labels("kind=store,region=us-east,tier=1,retired=yes")));
        assert!(!s.matches(&labels("kind=cloud,region=us-east,tier=1")));
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(LabelSelector::default().matches(&labels("")));
        assert!(LabelSelector::default().matches(&labels("a=b")));
    }

    #[test]
    fn malformed_requirements_are_refused() {
        let s = selector("matchExpressions: [{key: a, operator: In}]");
        assert_eq!(s.validate(), Err(Error::ValuesRequired { index: 0, operator: Operator::In }));
        let s = selector("matchExpressions: [{key: a, operator: Exists, values: [x]}]");
        assert_eq!(s.validate(), Err(Error::ValuesForbidden { index: 0, operator: Operator::Exists }));
    }

    #[test]
    fn cli_labels_parse() {
        assert_eq!(labels("a=b, c=").get("c").map(String::as_str), Some(""));
        assert!(parse_labels("novalue").is_err());
    }
}
