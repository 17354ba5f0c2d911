//! Patch targets: kustomize's `Selector` (group, version, kind, name and namespace as anchored
//! regular expressions, label and annotation selectors in their string form, read by
//! [`crate::selector::Requirements`] as kustomize reads both with `labels.Parse`).

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::resource::Resource;
use crate::selector::Requirements;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// A target compiled for matching.
#[derive(Debug)]
pub struct Matcher {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Requirements,
    annotations: Requirements,
}

impl Target {
    pub fn compile(&self) -> Result<Matcher, String> {
        let re = |field: &str, s: &Option<String>| -> Result<Option<Regex>, String> {
            s.as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| Regex::new(&format!("^(?:{s})$")).map_err(|e| format!("target.{field}: {e}")))
                .transpose()
        };
        Ok(Matcher {
            group: re("group", &self.group)?,
            version: re("version", &self.version)?,
            kind: re("kind", &self.kind)?,
            name: re("name", &self.name)?,
            namespace: re("namespace", &self.namespace)?,
            labels: Requirements::parse(self.label_selector.as_deref().unwrap_or_default())
                .map_err(|e| format!("target.labelSelector: {e}"))?,
            annotations: Requirements::parse(self.annotation_selector.as_deref().unwrap_or_default())
                .map_err(|e| format!("target.annotationSelector: {e}"))?,
        })
    }
}

impl Matcher {
    pub fn matches(&self, r: &Resource) -> bool {
        let gvk = r.gvk();
        let hit = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|re| re.is_match(s));
        let name_hit =
            self.name.as_ref().is_none_or(|re| re.is_match(r.name()) || r.previous.iter().any(|(_, n)| re.is_match(n)));
        let ns_hit = self
            .namespace
            .as_ref()
            .is_none_or(|re| re.is_match(r.namespace()) || r.previous.iter().any(|(ns, _)| re.is_match(ns)));
        hit(&self.group, &gvk.group)
            && hit(&self.version, &gvk.version)
            && hit(&self.kind, &gvk.kind)
            && name_hit
            && ns_hit
            && self.labels.matches(r.object.pointer("/metadata/labels"))
            && self.annotations.matches(r.object.pointer("/metadata/annotations"))
    }
}
