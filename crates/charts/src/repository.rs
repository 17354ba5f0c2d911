//! A chart from a chart repository over HTTP(S): its `index.yaml` read, the version chosen,
//! the archive it names fetched (or taken from the cache by the index's digest) and checked.

use flotilla_core::fleet::ChartRef;
use flotilla_core::helm::repo::{self, Index};

use crate::cache::Cache;
use crate::client::Client;
use crate::{Error, Fetched};

pub(crate) fn fetch(client: &Client, cache: &Cache, chart: &ChartRef) -> Result<Fetched, Error> {
    let index_url = repo::index_url(&chart.url);
    let got = client.get(
        &index_url,
        &["application/yaml", "application/x-yaml", "text/yaml", "*/*"],
        repo::MAX_INDEX_BYTES,
    )?;
    let index = Index::parse(&got.bytes).map_err(|source| Error::Chart { url: index_url.clone(), source })?;
    let entry = index
        .choose(&chart.name, chart.version.as_deref())
        .map_err(|source| Error::Chart { url: index_url.clone(), source })?;
    let Some(first) = entry.urls.first() else {
        return Err(Error::Chart {
            url: index_url,
            source: repo::Error::NoUrl { name: entry.name.clone(), version: entry.version.clone() },
        });
    };
    let url = repo::chart_url(&chart.url, first);
    let (hex, bytes) = crate::archive(cache, &url, entry.digest.as_deref(), || {
        client
            .get(
                &url,
                &["application/gzip", "application/x-gzip", "application/octet-stream", "*/*"],
                repo::MAX_ARCHIVE_BYTES,
            )
            .map(|got| got.bytes)
    })?;
    crate::fetched(&url, &entry.version, &hex, &bytes)
}
