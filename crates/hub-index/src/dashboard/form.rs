//! What a request's text says: URL components, `application/x-www-form-urlencoded` forms and
//! query strings, the viewer's cookie and bearer token. Plain text in, plain text out; nothing
//! here writes HTML (the templates escape what they are given).

use axum::http::{HeaderMap, header};

/// `text` as one component of a URL query or path (see `flotilla_core::register::url_component`).
pub fn encode(text: &str) -> String {
    flotilla_core::register::url_component(text)
}

/// Decodes one component of `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is, and bytes that are not UTF-8
/// become U+FFFD.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex(bytes[i + 1]).is_some() && hex(bytes[i + 2]).is_some() => {
                out.push(hex(bytes[i + 1]).expect("checked") * 16 + hex(bytes[i + 2]).expect("checked"));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Parses `application/x-www-form-urlencoded` text (a form body or a query string) into its
/// pairs, in order; a pair without `=` has an empty value.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The last non-empty value of `key` (an empty form field means "any").
pub(super) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.trim())
}

/// A query string of the non-empty `pairs`, each part encoded (`?a=1&b=2`, or nothing).
pub(super) fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Whether `token` can be a cookie value as it is (RFC 6265 cookie-octets), so it needs no
/// encoding that the API's bearer check would not undo.
pub(super) fn cookie_safe(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// The token of an `Authorization: Bearer` header.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn form_text_decodes_percent_escapes_and_plus_as_space() {
        let pairs = parse_form("token=flt_view_a%2Bb+c&empty=&flag&x=%E2%9C%93&bad=100%&odd=%zz%4");
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("token"), Some("flt_view_a+b c"));
        assert_eq!(get("empty"), Some(""));
        assert_eq!(get("flag"), Some(""));
        assert_eq!(get("x"), Some("✓"));
        assert_eq!(get("bad"), Some("100%"));
        assert_eq!(get("odd"), Some("%zz%4"));
        assert_eq!(parse_form("labels=kind%3Dstore%2Cregion%3Deu"), [("labels".into(), "kind=store,region=eu".into())]);
        assert_eq!(decode("%ff"), "\u{fffd}", "not UTF-8");
        assert!(parse_form("").is_empty());
    }

    #[test]
    fn encode_and_decode_round_trip() {
        for text in ["kind=store,region=eu", "a b+c&d", "<script>", "ünï/cödé?#%"] {
            assert_eq!(decode(&encode(text)), text);
        }
        assert_eq!(encode("kind=store x"), "kind%3Dstore%20x");
    }

    #[test]
    fn the_viewer_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; flotilla_viewer=flt_view_1"));
        headers.append(header::COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(cookie(&headers, "flotilla_viewer"), Some("flt_view_1"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert!(cookie_safe("flt_view_0123abcd"));
        assert!(!cookie_safe("a;b") && !cookie_safe("a b") && !cookie_safe(""));
    }
}
