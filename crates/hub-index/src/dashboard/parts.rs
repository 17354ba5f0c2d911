//! The small pieces the pages share: badges, commit ids, times and their age, counts with
//! thousands separated, bars and the versions a placement runs, paging links, and the words a
//! state or a value is shown in.

use flotilla_core::calendar::rfc3339;
use flotilla_core::report::SyncState;
use maud::{Markup, html};
use serde_json::Value;

use crate::api::{Behind, Standing, VersionCount};
use crate::index::standing_of;

/// Rows per page of the cluster list and of the lagging clusters.
pub const PAGE: usize = 100;

/// The hub's clock, in unix seconds.
pub(super) fn now_seconds() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// A state's name (`neverReported`, `VerificationFailed`) as the pages say every state: in
/// lower-case words (`never reported`, `verification failed`).
pub(super) fn words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The one row of a table with no rows: a table that says "none" rather than a bare header.
pub(super) fn none_row(columns: usize) -> Markup {
    html! { tr { td colspan=(columns) class="muted none" { "none" } } }
}

/// A standing (`synced`, …) as a badge in its colour.
pub(super) fn badge(standing: &str) -> Markup {
    html! { span class={ "badge s-" (standing) } { (words(standing)) } }
}

/// The standing a placement's state (as the report names it, `Synced`, …) counts as.
pub(super) fn placement_standing(state: &str) -> Option<Standing> {
    serde_json::from_value::<SyncState>(Value::String(state.to_string())).ok().map(standing_of)
}

/// A placement's or the fleet's state (`Synced`, …) as a badge in the colour of its standing.
pub(super) fn state_badge(state: &str) -> Markup {
    let class = placement_standing(state).map_or("unknown", Standing::name);
    html! { span class={ "badge s-" (class) } { (words(state)) } }
}

/// A commit id's first 12 characters.
pub(super) fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// A commit id, shortened, with the whole id as its title.
pub(super) fn commit_code(commit: &str) -> Markup {
    html! { code title=(commit) { (short(commit)) } }
}

/// A time (unix milliseconds): the time itself, and how long ago beside it as of `now` (unix
/// seconds; the handler reads the clock, so that a test can give the time).
pub(super) fn time_ms(ms: Option<i64>, now: i64) -> Markup {
    let Some(ms) = ms else { return html! { "never" } };
    let at = rfc3339(ms.div_euclid(1_000));
    html! { time datetime=(at) { (at) } " " span class="ago" { (ago(now - ms.div_euclid(1_000))) } }
}

/// `seconds` ago in words: `just now`, `40 s ago`, `4 min ago`, `3 h ago`, `2 days ago`; a time
/// ahead of the hub's clock is `in the future`.
pub(super) fn ago(seconds: i64) -> String {
    match seconds {
        ..0 => "in the future".to_string(),
        0..5 => "just now".to_string(),
        5..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..172_800 => "1 day ago".to_string(),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// How far a commit is behind its branch's head, in words.
pub(super) fn behind_text(b: &Behind) -> String {
    match (b.commits, b.since) {
        (Some(0), _) => "on the head".to_string(),
        (Some(n), Some(since)) => format!("{n} commits, since {}", rfc3339(since)),
        (Some(n), None) => format!("{n} commits"),
        (None, _) => "not on the branch's history".to_string(),
    }
}

/// Previous and next links for a page of `total` rows from `offset`; `link(offset)` makes a URL.
pub(super) fn paging(offset: usize, shown: usize, total: usize, link: &dyn Fn(usize) -> String) -> Markup {
    let (first, last) = if shown == 0 { (0, 0) } else { (offset + 1, offset + shown) };
    html! {
        p class="paging" {
            @if offset > 0 {
                a rel="prev" id="prev" href=(link(offset.saturating_sub(PAGE))) { "← previous " (PAGE) }
            }
            span id="showing" { (first) "–" (last) " of " (total) }
            @if offset + shown < total {
                " " a rel="next" id="next" href=(link(offset + shown)) { "next " (PAGE) " →" }
            }
        }
    }
}

/// `n` with thousands separated: `1,210`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A bar of `parts` (class, count) out of `total`, each part as wide as its share.
pub(super) fn bar(parts: &[(&str, usize)], total: usize) -> Markup {
    html! {
        div class="bar" {
            @for (class, n) in parts.iter().filter(|(_, n)| *n > 0) {
                // Per mille, so a share shows to a tenth of a percent.
                @let share = n * 1_000 / total.max(1);
                span class=(class) style={ "width:" (share / 10) "." (share % 10) "%" } title={ (class) ": " (n) } {}
            }
        }
    }
}

/// The versions a placement runs, as a line of text ("1.5.0: 1,210 · 1.4.2: 790") with a bar
/// split in their shares under it.
pub(super) fn versions_cell(versions: &[VersionCount]) -> Markup {
    let total: usize = versions.iter().map(|v| v.clusters).sum();
    html! {
        @if versions.is_empty() {
            span class="muted" { "none" }
        } @else {
            @for (i, v) in versions.iter().enumerate() {
                @if i > 0 { " · " }
                span class="version" { code { (v.version) } ": " (thousands(v.clusters)) }
            }
            div class="bar" {
                @for (i, v) in versions.iter().enumerate() {
                    // Per mille, so a share shows to a tenth of a percent.
                    @let share = v.clusters * 1_000 / total.max(1);
                    span class={ "v" (i % 4) } style={ "width:" (share / 10) "." (share % 10) "%" }
                        title={ (v.version) ": " (thousands(v.clusters)) } {}
                }
            }
        }
    }
}

/// A value's wire name, as the API writes it (`Synced`, `Healthy`, `Drifted`).
pub(super) fn wire(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A JSON value as text: strings as they are, `null` as nothing.
pub(super) fn or_empty(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as its JSON text, unquoted (`high`, `enforce`).
pub(super) fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).map(|v| or_empty(&v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_point_at_the_neighbouring_pages() {
        let link = |o: usize| format!("/clusters?labels=kind%3Dedge&offset={o}");
        let first = paging(0, 100, 250, &link).into_string();
        assert!(!first.contains("rel=\"prev\""), "{first}");
        assert!(first.contains("href=\"/clusters?labels=kind%3Dedge&amp;offset=100\""), "{first}");
        let last = paging(200, 50, 250, &link).into_string();
        assert!(last.contains("offset=100\">← previous"), "{last}");
        assert!(!last.contains("rel=\"next\""), "{last}");
        assert!(last.contains("201–250 of 250"), "{last}");
    }
}
