//! A chart from an OCI registry (`oci://HOST/PATH` and the chart's name), through the
//! distribution API: the tag the version range takes (an exact version is its tag; a range
//! reads the tag list), the manifest (Helm's config media type, one chart layer), the layer's
//! blob (or the cache, by the layer's digest), checked against that digest.
//!
//! A registry on this machine (`localhost`, `127.0.0.1`) is spoken to in plain http, as
//! `helm --plain-http` would; every other one in https.

use flotilla_core::fleet::ChartRef;
use flotilla_core::helm::repo::{self, OciReference};
use flotilla_template::semver::Version;

use crate::cache::Cache;
use crate::client::Client;
use crate::{Error, Fetched};

/// How many pages of a tag list are read (each up to the registry's page size).
const MAX_TAG_PAGES: usize = 100;

pub(crate) fn fetch(client: &Client, cache: &Cache, chart: &ChartRef) -> Result<Fetched, Error> {
    let reference =
        OciReference::new(&chart.url, &chart.name).map_err(|source| Error::Chart { url: chart.location(), source })?;
    let scheme = if reference.is_loopback() { "http" } else { "https" };
    let base = format!("{scheme}://{}/v2/{}", reference.registry, reference.repository);
    let version = match chart.version.as_deref().map(str::trim) {
        Some(exact) if is_exact(exact) => exact.to_string(),
        constraint => choose(client, &base, chart, constraint)?,
    };
    let manifest_url = format!("{base}/manifests/{}", repo::oci_tag(&version));
    let got = client.get(&manifest_url, &[repo::OCI_MANIFEST_MEDIA_TYPE], repo::MAX_MANIFEST_BYTES)?;
    let layer =
        repo::oci_chart_layer(&got.bytes).map_err(|source| Error::Chart { url: manifest_url.clone(), source })?;
    let blob_url = format!("{base}/blobs/{}", layer.digest);
    let (hex, bytes) = crate::archive(cache, &blob_url, Some(&layer.digest), || {
        client.get(&blob_url, &[], repo::MAX_ARCHIVE_BYTES).map(|got| got.bytes)
    })?;
    crate::fetched(&blob_url, &version, &hex, &bytes)
}

/// Whether a version range is one exact version (`1.2.3`, `v1.2.3-rc.1`): its tag is asked
/// for directly, without reading the tag list (which some registries do not let one read).
fn is_exact(version: &str) -> bool {
    let core = version.trim_start_matches('v').split(['-', '+']).next().unwrap_or_default();
    core.split('.').count() == 3
        && core.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && Version::parse(version).is_ok()
}

/// The version the tag list offers that `constraint` takes.
fn choose(client: &Client, base: &str, chart: &ChartRef, constraint: Option<&str>) -> Result<String, Error> {
    let mut url = format!("{base}/tags/list");
    let mut versions = Vec::new();
    for _ in 0..MAX_TAG_PAGES {
        let got = client.get(&url, &["application/json"], repo::MAX_MANIFEST_BYTES)?;
        versions.extend(repo::oci_versions(&got.bytes).map_err(|source| Error::Chart { url: url.clone(), source })?);
        // The next page, when the registry pages (`Link: </v2/…?n=…&last=…>; rel="next"`).
        let next = got
            .headers
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(|link| link.split_once('<')?.1.split_once('>').map(|(target, _)| target.to_string()));
        match next {
            Some(target) if target.starts_with('/') => {
                let origin = base.split("/v2/").next().unwrap_or(base);
                url = format!("{origin}{target}");
            }
            Some(target) => url = target,
            None => break,
        }
    }
    let at = repo::choose_version(versions.iter().map(String::as_str), constraint).map_err(|e| Error::Chart {
        url: format!("{base}/tags/list"),
        source: match e {
            repo::Choice::Constraint(message) => repo::Error::Tags(message),
            repo::Choice::None { newest } => repo::Error::NoVersion {
                name: chart.name.clone(),
                constraint: constraint.unwrap_or("*").to_string(),
                newest,
            },
        },
    })?;
    Ok(versions[at].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_version_is_asked_for_by_its_tag() {
        for v in ["1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build"] {
            assert!(is_exact(v), "{v}");
        }
        for v in ["1.2", "1.2.*", "^1.2.3", ">=1", "1.2.3 || 2.0.0", "1.x.3"] {
            assert!(!is_exact(v), "{v}");
        }
    }
}
