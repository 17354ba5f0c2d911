//! The agent's log: the `tracing` events of the agent and of `flotilla-git`, printed to stderr
//! one line each as they always were — `pull-agent: ` (or `flotilla-git: `), then `warning: ` or
//! `error: ` by level, then the message — the words operators and tests look for. Other crates'
//! events (kube, HTTP) are not printed.
//!
//! Not a place for decisions: what happened is said where it happens, with `tracing`'s macros.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// An event as one line: who, the level's word, the message.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let who = if meta.target().starts_with("flotilla_git") { "flotilla-git" } else { "pull-agent" };
        let level = match *meta.level() {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            _ => "",
        };
        write!(writer, "{who}: {level}")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Prints the agent's and `flotilla-git`'s events from `info` up to stderr, from now on (once
/// per process; a second call changes nothing).
pub fn init() {
    let targets = Targets::new().with_target("pull_agent", Level::INFO).with_target("flotilla_git", Level::INFO);
    let lines = tracing_subscriber::fmt::layer().event_format(Line).with_writer(std::io::stderr);
    // Already set (a test, or a second call): the first stays.
    let _ = tracing_subscriber::registry().with(lines).with(targets).try_init();
}
