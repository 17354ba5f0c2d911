//! Change detection for the daemon: one watch per kind the placements apply, on every object
//! labelled `flotilla.dev/placement`, counting the changes seen per placement. A cycle whose
//! placement is at the same commits, with no change seen since its last full sync, need not list
//! and compare a thousand objects again: drift, a deletion or a status change by a controller
//! each arrive as an event and make the next cycle a full one.
//!
//! A watch that fails is listed and started again (with backoff); every (re)start counts as a
//! change for everyone, since events may have been missed. The API server ends a watch after
//! its timeout (about five minutes), which therefore also forces a full sync: the periodic
//! resync. Not a cache of objects: the full sync reads the cluster itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};
use flotilla_core::plan::PLACEMENT_LABEL;
use futures_util::StreamExt as _;
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};

use crate::cluster::{self, Cluster};

/// How long the API server is asked to keep a watch open.
const WATCH_SECONDS: u32 = 290;

/// What one kind's watch has seen.
#[derive(Debug, Default)]
struct Seen {
    /// Whether the watch is open now.
    open: AtomicBool,
    /// (Re)starts: changes that may have touched any placement.
    restarts: AtomicU64,
    /// Events per placement.
    events: Mutex<BTreeMap<String, u64>>,
}

/// The watches of one agent, one per kind.
#[derive(Debug, Default)]
pub struct Watches {
    kinds: BTreeMap<(String, String), Watch>,
}

#[derive(Debug)]
struct Watch {
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watches {
    pub fn new() -> Watches {
        Watches::default()
    }

    /// Starts watching the kinds not watched yet (a kind the cluster does not serve is skipped:
    /// the placement then always gets a full sync).
    pub async fn watch(
        &mut self,
        cluster: &mut Cluster,
        kinds: &BTreeSet<(String, String)>,
    ) -> Result<(), cluster::Error> {
        for (api_version, kind) in kinds {
            let key = (api_version.clone(), kind.clone());
            if self.kinds.contains_key(&key) {
                continue;
            }
            let Some(api) = cluster.api_all(api_version, kind).await? else { continue };
            let seen = Arc::new(Seen::default());
            let task = tokio::spawn(follow(api, seen.clone()));
            self.kinds.insert(key, Watch { seen, task });
        }
        Ok(())
    }

    /// A number that grows whenever an object of `placement` of one of `kinds` may have
    /// changed; `None` while a kind is not watched or its watch is not open.
    pub fn stamp(&self, placement: &str, kinds: &BTreeSet<(String, String)>) -> Option<u64> {
        let mut stamp = 0u64;
        for key in kinds {
            let seen = &self.kinds.get(key)?.seen;
            if !seen.open.load(Ordering::SeqCst) {
                return None;
            }
            let events = seen.events.lock().expect("not poisoned").get(placement).copied().unwrap_or(0);
            stamp = stamp.wrapping_add(seen.restarts.load(Ordering::SeqCst)).wrapping_add(events);
        }
        Some(stamp)
    }
}

/// Lists (for the resourceVersion to start from) and watches, forever; counts what it sees.
async fn follow(api: Api<DynamicObject>, seen: Arc<Seen>) {
    // 1 s, 2 s, 4 s … up to a minute (plus up to as much again, at random) between failed
    // tries, from 1 s again once a watch is open.
    let waits = || {
        ExponentialBuilder::new()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(60))
            .without_max_times()
            .with_jitter()
            .build()
    };
    let mut backoff = waits();
    loop {
        seen.open.store(false, Ordering::SeqCst);
        seen.restarts.fetch_add(1, Ordering::SeqCst);
        let list = ListParams::default().labels(PLACEMENT_LABEL).limit(1);
        let stream = match api.list_metadata(&list).await {
            Ok(l) => {
                let version = l.metadata.resource_version.unwrap_or_default();
                let params = WatchParams::default().labels(PLACEMENT_LABEL).timeout(WATCH_SECONDS);
                api.watch(&params, &version).await
            }
            Err(e) => Err(e),
        };
        let Ok(stream) = stream else {
            tokio::time::sleep(backoff.next().expect("backs off forever")).await;
            continue;
        };
        seen.open.store(true, Ordering::SeqCst);
        backoff = waits();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let object = match event {
                Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => o,
                Ok(WatchEvent::Bookmark(_)) => continue,
                // 410 Gone or a broken stream: list again.
                Ok(WatchEvent::Error(_)) | Err(_) => break,
            };
            let placement = object.metadata.labels.as_ref().and_then(|l| l.get(PLACEMENT_LABEL)).cloned();
            if let Some(placement) = placement {
                *seen.events.lock().expect("not poisoned").entry(placement).or_default() += 1;
            }
        }
    }
}
