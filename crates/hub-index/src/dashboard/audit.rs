//! An audit (`GET /api/v1/audit?format=html`, built by [`crate::audit`]) as a standalone HTML
//! page: a table of the standard's controls and their verdicts, then per control every result
//! with its evidence row. No script, and not the dashboard's frame: it is a document to keep.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::api::Audit;
use crate::audit::result_word;

/// The page's own style, small enough to print.
const CSS: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.non-compliant{color:#b00}.compliant{color:#070}";

/// The audit as a whole HTML document.
pub fn audit_page(audit: &Audit) -> String {
    let title = format!("{} as of {}", audit.standard, audit.at);
    let page: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                // Not escaped: CSS is this file's constant and holds no outside text; the text
                // of a <style> element is not entity-decoded, so escaping would only break it.
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { (title) }
                table id="controls" {
                    tr { th { "control" } th { "verdict" } th { "compliant" } th { "non-compliant" } th { "unknown" } }
                    @for c in &audit.controls {
                        tr {
                            td { a href={ "#control-" (c.control) } { (c.control) } }
                            td class=(c.verdict.name()) { (c.verdict.name()) }
                            td { (c.compliant) }
                            td { (c.non_compliant) }
                            td { (c.unknown) }
                        }
                    }
                }
                @for c in &audit.controls {
                    h2 id={ "control-" (c.control) } { "Control " (c.control) ": " (c.verdict.name()) }
                    table {
                        tr {
                            th { "policy" } th { "cluster" } th { "result" } th { "since" } th { "commit" }
                            th { "evidence" }
                        }
                        @for p in &c.policies {
                            @for r in &p.results {
                                @let result = result_word(r.compliant);
                                tr {
                                    td { (p.policy) }
                                    td { (r.cluster) }
                                    td class=(result) { (result) }
                                    td { (r.since) }
                                    td { (r.commit.as_deref().unwrap_or_default()) }
                                    td { "#" (r.evidence_seq) " " (r.evidence_hash) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::records::EvidenceRow;

    fn row(seq: i64, cluster: &str, policy: &str, compliant: Option<bool>) -> EvidenceRow {
        EvidenceRow::example(seq, cluster, policy, compliant, Some("PCI-DSS v4.0"))
    }

    #[test]
    fn the_audit_page_shows_each_control_and_every_row_behind_it() {
        let rows = [row(1, "s1", "deny", Some(true)), row(2, "s2", "deny", Some(false)), row(3, "s3", "deny", None)];
        let audit = crate::audit::audit("PCI-DSS v4.0", 1_762_000_000_000, &rows, &BTreeMap::new());
        let html = audit_page(&audit);
        assert!(html.contains("<title>PCI-DSS v4.0 as of 2025-11-01T12:26:40Z</title>"), "{html}");
        let control = "<tr><td><a href=\"#control-1.3.1\">1.3.1</a></td><td class=\"non-compliant\">non-compliant</td>\
                       <td>1</td><td>1</td><td>1</td></tr>";
        assert!(html.contains(control), "{html}");
        assert!(html.contains("<h2 id=\"control-1.3.1\">Control 1.3.1: non-compliant</h2>"), "{html}");
        for (seq, cluster, result) in [(1, "s1", "compliant"), (2, "s2", "non-compliant"), (3, "s3", "unknown")] {
            let commit = seq.to_string().repeat(40);
            let line = format!(
                "<tr><td>deny</td><td>{cluster}</td><td class=\"{result}\">{result}</td><td>2025-11-01T00:00:00Z</td>\
                 <td>{commit}</td><td>#{seq} {seq:064}</td></tr>",
            );
            assert!(html.contains(&line), "the row of {cluster}: {line}\n{html}");
        }
    }
}
