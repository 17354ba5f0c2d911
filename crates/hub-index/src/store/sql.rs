//! The two SQL dialects the store speaks, and the one difference every query has: SQLite takes
//! `?` placeholders, PostgreSQL `$1…$n`, and sqlx's `Any` driver passes the text through as
//! written. Queries are written once with `?` and numbered here for PostgreSQL.

use std::borrow::Cow;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sql` as this database wants it.
    pub(super) fn sql(self, sql: &str) -> Cow<'_, str> {
        match self {
            Dialect::Sqlite => Cow::Borrowed(sql),
            Dialect::Postgres => Cow::Owned(numbered(sql)),
        }
    }

    /// The collation that sorts text by bytes, as Rust sorts strings, to append to `ORDER BY
    /// column`: PostgreSQL sorts by the database's locale otherwise, SQLite by bytes already.
    pub(super) fn bytewise(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => r#" COLLATE "C""#,
        }
    }

    /// What a `SELECT` appends to lock the rows it reads until the transaction ends. SQLite
    /// has no row locks and needs none: a write transaction there holds the whole database.
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// Replaces each `?` with `$1`, `$2`, … in order, leaving those inside single-quoted strings
/// and double-quoted identifiers alone (a doubled quote inside them is an escaped quote, which
/// toggling twice handles).
pub(super) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote = None;
    let mut n = 0;
    for c in sql.chars() {
        match (quote, c) {
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// `?, ?, ?`: `n` placeholders.
pub(super) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)`: `rows` rows of `columns` placeholders.
pub(super) fn rows(rows: usize, columns: usize) -> String {
    vec![format!("({})", placeholders(columns)); rows].join(", ")
}

/// How many rows one statement reads or writes: few statements per batch, and far below both
/// databases' limits on parameters (SQLite 32,766, PostgreSQL 65,535).
pub(super) const ROWS_PER_STATEMENT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
        assert_eq!(
            numbered("UPDATE t SET a = ?, b = ? WHERE c = ? AND d > ?"),
            "UPDATE t SET a = $1, b = $2 WHERE c = $3 AND d > $4"
        );
        assert_eq!(numbered("VALUES (?,?)"), "VALUES ($1,$2)");
        let many = ["?"; 12].join(", ");
        assert!(numbered(&many).ends_with("$10, $11, $12"));
    }

    #[test]
    fn quoted_question_marks_are_not_placeholders() {
        assert_eq!(numbered("SELECT '?', ? FROM \"a?\" WHERE x = ?"), "SELECT '?', $1 FROM \"a?\" WHERE x = $2");
        // An escaped quote inside a literal keeps the literal open.
        assert_eq!(numbered("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
    }

    #[test]
    fn sqlite_keeps_the_text_and_needs_no_row_locks() {
        assert_eq!(Dialect::Sqlite.sql("a = ?"), "a = ?");
        assert_eq!(Dialect::Postgres.sql("a = ?"), "a = $1");
        assert_eq!(Dialect::Sqlite.for_update(), "");
        assert_eq!(Dialect::Postgres.for_update(), " FOR UPDATE");
        assert_eq!(Dialect::Sqlite.bytewise(), "");
        assert_eq!(
            numbered(&format!("ORDER BY name{} LIMIT ?", Dialect::Postgres.bytewise())),
            r#"ORDER BY name COLLATE "C" LIMIT $1"#
        );
    }
}
