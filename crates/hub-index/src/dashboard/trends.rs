//! The summary's charts, drawn as inline SVG: the clusters by state over the last 24 hours and
//! the share of compliant policy results over the last 30 days (see [`crate::trends`]: sampled
//! by this hub process since it started).

use maud::{Markup, html};

use super::parts::{badge, thousands, words};
use crate::api::Standing;
use crate::trends::{COMPLIANCE_SPAN_MS, STATE_EVERY_MS, STATE_SPAN_MS, Trends};

/// Width and height of a trend's plot, and the margin left of it for the scale.
const WIDTH: i64 = 640;
const HEIGHT: i64 = 150;
const MARGIN: i64 = 48;

/// One line of a chart: its colour, its name, and its points as (unix ms, value).
type Line<'a> = (&'a str, &'a str, Vec<(i64, usize)>);

/// The colour of a standing, as its badge has it.
fn colour(standing: Standing) -> &'static str {
    match standing {
        Standing::Synced => "#1a7f37",
        Standing::Progressing => "#0969da",
        Standing::Degraded => "#9a6700",
        Standing::Failed => "#cf222e",
        Standing::Offline => "#6e7781",
        Standing::NeverReported => "#8250df",
    }
}

/// An SVG chart, `id`, of `lines` over the `span_ms` before `now_ms`, values from 0 to `top`
/// (labelled by `scale`), the left end labelled `from`; a line's last point shows as a dot.
/// Every SVG element is closed explicitly: inside HTML a start tag without its end tag would
/// hold the elements after it.
fn chart(
    id: &str,
    now_ms: i64,
    span_ms: i64,
    top: usize,
    scale: &dyn Fn(usize) -> String,
    lines: &[Line],
    from: &str,
) -> Markup {
    let (width, height, margin) = (WIDTH, HEIGHT, MARGIN);
    let top = i64::try_from(top.max(1)).unwrap_or(i64::MAX);
    let x = |at: i64| margin + (at - (now_ms - span_ms)).clamp(0, span_ms) * width / span_ms.max(1);
    let y = |v: usize| 10 + height - i64::try_from(v).unwrap_or(i64::MAX).min(top) * height / top;
    let top_value = usize::try_from(top).unwrap_or(usize::MAX);
    let ticks = [(top_value, scale(usize::try_from(top).unwrap_or(0))), (0, scale(0))];
    let (outer_width, outer_height) = (margin + width + 10, height + 34);
    html! {
        svg id=(id) class="trend" xmlns="http://www.w3.org/2000/svg" width=(outer_width) height=(outer_height)
            viewBox={ "0 0 " (outer_width) " " (outer_height) } role="img" {
            rect x=(margin) y="10" width=(width) height=(height) fill="#fff" stroke="#d0d7de" {}
            @for (v, label) in &ticks {
                text x=(margin - 4) y=(y(*v) + 4) text-anchor="end" font-size="11" { (label) }
            }
            text x=(margin) y=(height + 28) font-size="11" { (from) }
            text x=(margin + width) y=(height + 28) text-anchor="end" font-size="11" { "now" }
            @for (colour, name, points) in lines.iter().filter(|(_, _, points)| !points.is_empty()) {
                @let coordinates: Vec<String> = points.iter().map(|(at, v)| format!("{},{}", x(*at), y(*v))).collect();
                polyline data-line=(name) fill="none" stroke=(colour) stroke-width="2" points=(coordinates.join(" ")) {
                    title { (words(name)) }
                }
                @if let Some((at, v)) = points.last() {
                    circle cx=(x(*at)) cy=(y(*v)) r="3" fill=(colour) {}
                }
            }
        }
    }
}

/// The trends section of the summary: the standings over the last 24 hours and compliance over
/// the last 30 days.
pub(super) fn trends(trends: &Trends, now_ms: i64) -> Markup {
    let states = trends.states();
    let top = states.iter().flat_map(|s| s.by_standing).max().unwrap_or(0);
    let lines: Vec<Line> = Standing::ALL
        .iter()
        .map(|s| (colour(*s), s.name(), states.iter().map(|x| (x.at_ms, x.by_standing[s.slot()])).collect()))
        .collect();
    let compliance: Vec<(i64, usize)> =
        trends.compliance().iter().filter_map(|c| Some((c.at_ms, c.per_mille()?))).collect();
    let percent = |v: usize| format!("{}%", v / 10);
    let compliant = [("#1a7f37", "compliant", compliance)];
    html! {
        h2 { "Trends" }
        p class="muted" {
            "Sampled by this hub process since it started: the clusters by state every "
            (STATE_EVERY_MS / 60_000) " minutes over the last 24 hours, and the share of compliant policy \
             results every hour over the last 30 days. "
            @for s in Standing::ALL { (badge(s.name())) " " }
        }
        (chart("trend-states", now_ms, STATE_SPAN_MS, top, &thousands, &lines, "24 h ago"))
        (chart("trend-compliance", now_ms, COMPLIANCE_SPAN_MS, 1_000, &percent, &compliant, "30 days ago"))
    }
}
