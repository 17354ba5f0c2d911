//! Semantic versions and constraints as Masterminds/semver v3 reads them (Sprig's `semver`
//! and `semverCompare`, Helm's dependency ranges): a loose `v1.2.3-pre+build` (minor and patch
//! may be missing), constraints joined by `,` or spaces (and) and `||` (or), with `=`, `!=`,
//! `>`, `<`, `>=`, `<=`, `~`, `~>`, `^`, wildcards (`1.2.x`, `*`) and hyphen ranges.
//!
//! As in Masterminds: a version with a pre-release satisfies a constraint only when that
//! constraint names a pre-release itself (`>=1.21-0`).

use std::cmp::Ordering;

/// A parsed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub build: String,
    /// The text as given.
    pub original: String,
}

impl Version {
    /// Masterminds' `NewVersion` (loose).
    pub fn parse(text: &str) -> Result<Version, String> {
        let bad = || format!("Invalid Semantic Version: {text}");
        let s = text.strip_prefix('v').unwrap_or(text);
        let (s, build) = match s.split_once('+') {
            Some((a, b)) => (a, b.to_string()),
            None => (s, String::new()),
        };
        let (core, pre) = match s.split_once('-') {
            Some((a, b)) => (a, b.to_string()),
            None => (s, String::new()),
        };
        let valid_ids =
            |t: &str| t.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if (!pre.is_empty() && !valid_ids(&pre)) || (!build.is_empty() && !valid_ids(&build)) {
            return Err(bad());
        }
        let mut parts = core.split('.');
        let mut num = |required: bool| -> Result<u64, String> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => p.parse().map_err(|_| bad()),
                None if !required => Ok(0),
                _ => Err(bad()),
            }
        };
        let (major, minor, patch) = (num(true)?, num(false)?, num(false)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Version { major, minor, patch, pre, build, original: text.to_string() })
    }

    /// Masterminds' `Compare` (build metadata ignored).
    pub fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

#[allow(clippy::many_single_char_names, reason = "two identifiers side by side, as Masterminds' comparePrerelease")]
fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let ord = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// One constraint: an operator and a version, `dirty` when parts were wildcards or missing.
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools, reason = "Masterminds' own flags, one for each part that was a wildcard")]
struct Constraint {
    op: String,
    version: Version,
    major_dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn parse_constraint(text: &str) -> Result<Constraint, String> {
    let bad = || format!("improper constraint: {text}");
    let t = text.trim();
    let op_len = t.find(|c: char| c.is_ascii_alphanumeric() || c == '*').ok_or_else(bad)?;
    let op = t[..op_len].trim().to_string();
    let mut ver = t[op_len..].trim();
    ver = ver.strip_prefix('v').unwrap_or(ver);
    let (core, rest) = match ver.find(['-', '+']) {
        Some(i) => (&ver[..i], &ver[i..]),
        None => (ver, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let wild = |p: &str| matches!(p, "x" | "X" | "*");
    if parts.len() > 3 {
        return Err(bad());
    }
    let mut nums = [0u64; 3];
    let mut dirty_from = 3;
    for (i, p) in parts.iter().enumerate() {
        if wild(p) {
            dirty_from = dirty_from.min(i);
        } else if dirty_from < 3 {
            return Err(bad());
        } else {
            nums[i] = p.parse().map_err(|_| bad())?;
        }
    }
    dirty_from = dirty_from.min(parts.len());
    let version = Version::parse(&format!("{}.{}.{}{rest}", nums[0], nums[1], nums[2])).map_err(|_| bad())?;
    if !matches!(op.as_str(), "" | "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^") {
        return Err(bad());
    }
    Ok(Constraint {
        op,
        version,
        major_dirty: dirty_from == 0,
        minor_dirty: dirty_from <= 1,
        patch_dirty: dirty_from <= 2,
        dirty: dirty_from < 3,
    })
}

impl Constraint {
    fn check(&self, v: &Version) -> bool {
        let c = &self.version;
        let pre_ok = v.pre.is_empty() || !c.pre.is_empty();
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    return pre_ok && tilde_like(v, self);
                }
                v.compare(c) == Ordering::Equal
            }
            "!=" => {
                if self.dirty {
                    return !(pre_ok && tilde_like(v, self));
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if !pre_ok {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                v.minor > c.minor
            }
            "<" => pre_ok && v.compare(c) == Ordering::Less,
            ">=" | "=>" => pre_ok && v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !pre_ok {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major < c.major;
                }
                if self.minor_dirty {
                    return true;
                }
                v.minor <= c.minor
            }
            "~" | "~>" => {
                if !pre_ok || v.compare(c) == Ordering::Less {
                    return false;
                }
                if c.major == 0 && c.minor == 0 && c.patch == 0 && self.minor_dirty {
                    return true;
                }
                if v.major != c.major {
                    return false;
                }
                self.minor_dirty || v.minor == c.minor
            }
            "^" => {
                if !pre_ok || v.compare(c) == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.major == 0 && v.minor == c.minor;
                }
                v.major == 0 && v.minor == 0 && v.patch == c.patch
            }
            _ => false,
        }
    }
}

/// `=` with wildcards: the same major (and minor, when given).
fn tilde_like(v: &Version, c: &Constraint) -> bool {
    let k = &c.version;
    if c.major_dirty {
        return true;
    }
    if c.minor_dirty {
        return v.major == k.major;
    }
    if c.patch_dirty {
        return v.major == k.major && v.minor == k.minor;
    }
    v.compare(k) == Ordering::Equal
}

/// Whether `version` satisfies `constraints` (Masterminds' `NewConstraint(..).Check(..)`).
pub fn satisfies(constraints: &str, version: &str) -> Result<bool, String> {
    let v = Version::parse(version)?;
    Ok(Constraints::parse(constraints)?.check(&v))
}

/// Parsed constraints (Masterminds' `Constraints`), to check many versions against one range:
/// Helm's choice of a chart version from a repository's index.
#[derive(Clone, Debug)]
pub struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    /// Masterminds' `NewConstraint`.
    pub fn parse(text: &str) -> Result<Constraints, String> {
        parse(text).map(Constraints)
    }

    /// Whether `version` satisfies them (`Check`).
    pub fn check(&self, version: &Version) -> bool {
        self.0.iter().any(|group| group.iter().all(|c| c.check(version)))
    }
}

fn parse(text: &str) -> Result<Vec<Vec<Constraint>>, String> {
    let mut groups = Vec::new();
    for alt in text.split("||") {
        // Hyphen ranges (`1.2 - 1.4`) first, then `,` and spaces between constraints; an
        // operator may be followed by spaces (`>= 1.2`).
        let normalized = alt.replace(" - ", " HYPHEN ");
        let mut tokens: Vec<String> = Vec::new();
        let mut pending_op = String::new();
        for token in normalized.split([',', ' ']).filter(|t| !t.is_empty()) {
            if token.chars().all(|c| "=<>!~^".contains(c)) {
                pending_op.push_str(token);
                continue;
            }
            tokens.push(format!("{pending_op}{token}"));
            pending_op.clear();
        }
        let mut group = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            if tokens.get(i + 1).map(String::as_str) == Some("HYPHEN") && i + 2 < tokens.len() {
                group.push(parse_constraint(&format!(">={}", tokens[i]))?);
                group.push(parse_constraint(&format!("<={}", tokens[i + 2]))?);
                i += 3;
                continue;
            }
            group.push(parse_constraint(&tokens[i])?);
            i += 1;
        }
        if group.is_empty() {
            return Err(format!("improper constraint: {text}"));
        }
        groups.push(group);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_as_masterminds_checks_them() {
        for (c, v, want) in [
            (">=1.21-0", "v1.35.0", true),
            ("<1.21-0", "v1.35.0", false),
            (">=1.19.0-0", "1.19.0", true),
            (">= 1.16.0", "v1.16.3-gke.1", false),
            (">=1.16.0-0", "v1.16.3-gke.1", true),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("1.2.x", "1.2.7", true),
            ("1.2 - 1.4", "1.4.0", true),
            (">1.2", "1.2.5", false),
            ("<=1.2", "1.2.9", true),
            ("<1.0 || >=2.0", "2.1.0", true),
            (">=1.0, <2.0", "2.1.0", false),
            ("*", "3.0.0", true),
        ] {
            assert_eq!(satisfies(c, v), Ok(want), "{c} {v}");
        }
    }
}
