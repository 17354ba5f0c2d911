//! Go's `fmt` as templates use it: `Sprint` (how an action prints its value), `Sprintln` and
//! `Sprintf` with Go's verbs and flags, and `strconv.Quote`.
//!
//! Floats print as Go's `%v` does (strconv's shortest `'g'`: `1e+06`, `3.14`, `1e-05`,
//! `100000`). Not supported: argument indexes (`%[1]d`), `%x` on floats, `%p`, Go's `%#v`
//! syntax printing (it prints as `%v`).

use std::fmt::Write as _;

use crate::value::Value;

/// `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither is a
/// string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, arg, 'v', &Spec::default(), 0);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: operands with `%v`, always separated by a space, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, arg, 'v', &Spec::default(), 0);
    }
    out.push('\n');
    out
}

/// `%v` of one value.
pub fn format_value(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', &Spec::default(), 0);
    out
}

/// The flags, width and precision of one verb.
#[derive(Clone, Debug, Default)]
#[allow(clippy::struct_excessive_bools, reason = "Go's fmt flags, one bool each")]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        // Flags.
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '#' => spec.sharp = true,
                // Only zero padding to the left.
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        // Width: digits or `*`.
        if chars.peek().is_some_and(|&(_, c)| c == '*') {
            chars.next();
            match int_from_arg(args, &mut arg_num) {
                Some(w) if w < 0 => {
                    spec.minus = true;
                    spec.zero = false;
                    spec.wid = Some(w.unsigned_abs().try_into().unwrap_or(usize::MAX));
                }
                Some(w) => spec.wid = Some(w.try_into().unwrap_or(usize::MAX)),
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            spec.wid = parse_num(&mut chars);
        }
        // Precision.
        if chars.peek().is_some_and(|&(_, c)| c == '.') {
            chars.next();
            if chars.peek().is_some_and(|&(_, c)| c == '*') {
                chars.next();
                match int_from_arg(args, &mut arg_num) {
                    Some(p) if p >= 0 => spec.prec = Some(p.try_into().unwrap_or(usize::MAX)),
                    _ => out.push_str("%!(BADPREC)"),
                }
            } else {
                spec.prec = Some(parse_num(&mut chars).unwrap_or(0));
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        arg_num += 1;
        if verb == 'T' {
            pad(&mut out, arg.type_name(), &spec);
            continue;
        }
        print_arg(&mut out, arg, verb, &spec, 0);
    }
    if arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = arg {
                out.push_str("<nil>");
            } else {
                out.push_str(arg.type_name());
                out.push('=');
                print_arg(&mut out, arg, 'v', &Spec::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(&(_, c)) = chars.peek() {
        let Some(d) = c.to_digit(10) else { break };
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn int_from_arg(args: &[Value], arg_num: &mut usize) -> Option<i64> {
    let arg = args.get(*arg_num)?;
    *arg_num += 1;
    match arg {
        Value::Int(i) if i.unsigned_abs() <= 1_000_000 => Some(*i),
        _ => None,
    }
}

/// Prints one operand with `verb`. `depth` > 0 inside a list, map or object, where a nil
/// element prints `<nil>` whatever the verb (Go prints a nil interface so).
fn print_arg(out: &mut String, arg: &Value, verb: char, spec: &Spec, depth: usize) {
    match arg {
        Value::Nil => {
            if depth > 0 || verb == 'v' {
                pad(out, "<nil>", spec);
            } else {
                bad_verb(out, arg, verb, spec);
            }
        }
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, spec),
            _ => bad_verb(out, arg, verb, spec),
        },
        Value::Int(i) => match verb {
            'v' | 'd' => fmt_integer(out, *i, 10, verb, spec),
            'b' => fmt_integer(out, *i, 2, verb, spec),
            'o' | 'O' => fmt_integer(out, *i, 8, verb, spec),
            'x' | 'X' => fmt_integer(out, *i, 16, verb, spec),
            'c' => {
                let c = u32::try_from(*i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                pad(out, c.encode_utf8(&mut [0; 4]), spec);
            }
            'q' => {
                let c = u32::try_from(*i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                pad(out, &quote_rune(c), spec);
            }
            'U' => {
                let mut s = format!("U+{:04X}", *i);
                if spec.sharp
                    && let Some(c) = u32::try_from(*i).ok().and_then(char::from_u32)
                    && is_print(c)
                {
                    let _ = write!(s, " '{c}'");
                }
                pad(out, &s, spec);
            }
            _ => bad_verb(out, arg, verb, spec),
        },
        Value::Float(f) => match verb {
            'v' | 'g' | 'G' => fmt_float(out, *f, verb, spec.prec, spec),
            'e' | 'E' | 'f' | 'F' => fmt_float(out, *f, verb, Some(spec.prec.unwrap_or(6)), spec),
            _ => bad_verb(out, arg, verb, spec),
        },
        Value::String(s) => match verb {
            'v' | 's' => pad(out, truncate(s, spec.prec), spec),
            'q' => {
                let s = truncate(s, spec.prec);
                if spec.sharp && can_backquote(s) {
                    pad(out, &format!("`{s}`"), spec);
                } else {
                    pad(out, &quote(s), spec);
                }
            }
            'x' | 'X' => fmt_hex_string(out, truncate(s, spec.prec), verb == 'X', spec),
            _ => bad_verb(out, arg, verb, spec),
        },
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, item, verb, spec, depth + 1);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push_str("map[");
            for (i, (k, v)) in map.entries().into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, &Value::String(k), verb, spec, depth + 1);
                out.push(':');
                print_arg(out, &v, verb, spec, depth + 1);
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (i, name) in object.field_names().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if spec.plus && verb == 'v' {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, &object.field(name).unwrap_or_default(), verb, spec, depth + 1);
            }
            out.push('}');
        }
        Value::Function(_) => match verb {
            'v' => pad(out, "<func>", spec),
            _ => bad_verb(out, arg, verb, spec),
        },
    }
}

/// `%!verb(type=value)`, the value printed with `%v` and the same flags, as Go does.
fn bad_verb(out: &mut String, arg: &Value, verb: char, spec: &Spec) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if let Value::Nil = arg {
        out.push_str("<nil>");
    } else {
        out.push_str(arg.type_name());
        out.push('=');
        print_arg(out, arg, 'v', spec, 0);
    }
    out.push(')');
}

/// Writes `s` padded to the width (in runes), with spaces or, for `0`, zeros on the left.
fn pad(out: &mut String, s: &str, spec: &Spec) {
    let Some(wid) = spec.wid else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= wid {
        out.push_str(s);
        return;
    }
    let fill = if spec.zero { '0' } else { ' ' };
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', wid - n));
    } else {
        out.extend(std::iter::repeat_n(fill, wid - n));
        out.push_str(s);
    }
}

fn truncate(s: &str, prec: Option<usize>) -> &str {
    match prec {
        Some(p) => s.char_indices().nth(p).map_or(s, |(at, _)| &s[..at]),
        None => s,
    }
}

/// Go's `fmtInteger`: digits, zero padding through the precision, `#` prefixes, sign.
fn fmt_integer(out: &mut String, i: i64, base: u32, verb: char, spec: &Spec) {
    let negative = i < 0;
    let u = i.unsigned_abs();
    let mut prec = 0;
    if let Some(p) = spec.prec {
        prec = p;
        if p == 0 && u == 0 {
            pad(out, "", &Spec { zero: false, ..spec.clone() });
            return;
        }
    } else if spec.zero
        && let Some(wid) = spec.wid
    {
        prec = wid;
        if negative || spec.plus || spec.space {
            prec = prec.saturating_sub(1);
        }
    }
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if verb == 'X' => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    if digits.len() < prec {
        digits.insert_str(0, &"0".repeat(prec - digits.len()));
    }
    let mut s = String::new();
    if negative {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    if spec.sharp {
        match base {
            2 => s.push_str("0b"),
            8 if !digits.starts_with('0') => s.push('0'),
            16 => s.push_str(if verb == 'X' { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        s.push_str("0o");
    }
    s.push_str(&digits);
    pad(out, &s, &Spec { zero: false, ..spec.clone() });
}

fn fmt_hex_string(out: &mut String, s: &str, upper: bool, spec: &Spec) {
    let mut hex = String::new();
    for (i, b) in s.bytes().enumerate() {
        if spec.space && i > 0 {
            hex.push(' ');
        }
        if spec.sharp && (spec.space || i == 0) {
            hex.push_str(if upper { "0X" } else { "0x" });
        }
        if upper {
            let _ = write!(hex, "{b:02X}");
        } else {
            let _ = write!(hex, "{b:02x}");
        }
    }
    pad(out, &hex, spec);
}

/// Go's `fmt.fmtFloat`: strconv's formatting, then sign and padding.
fn fmt_float(out: &mut String, f: f64, verb: char, prec: Option<usize>, spec: &Spec) {
    let mut num = format_float(f, verb, prec);
    if !num.starts_with(['-', '+']) {
        num.insert(0, '+');
    }
    if spec.space && num.starts_with('+') && !spec.plus {
        num.replace_range(0..1, " ");
    }
    if num[1..].starts_with(['I', 'N']) {
        if num[1..].starts_with('N') && !spec.space && !spec.plus {
            num.remove(0);
        }
        pad(out, &num, &Spec { zero: false, ..spec.clone() });
        return;
    }
    if spec.plus || !num.starts_with('+') {
        if spec.zero
            && let Some(wid) = spec.wid
            && wid > num.len()
        {
            out.push_str(&num[..1]);
            out.extend(std::iter::repeat_n('0', wid - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        pad(out, &num, spec);
        return;
    }
    pad(out, &num[1..], spec);
}

/// strconv.FormatFloat(f, verb, prec, 64), `prec` `None` for the shortest representation.
pub(crate) fn format_float(f: f64, verb: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = f.is_sign_negative();
    let abs = f.abs();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let upper = verb.is_ascii_uppercase();
    match verb {
        'f' | 'F' => {
            let p = prec.unwrap_or(6);
            let _ = write!(s, "{abs:.p$}");
        }
        'e' | 'E' => {
            let p = prec.unwrap_or(6);
            let digs = digits(abs, Some(p + 1));
            fmt_e(&mut s, &digs, p, upper);
        }
        _ => {
            // 'g', 'G' and 'v'.
            let shortest = prec.is_none();
            let d = digits(abs, prec.map(|p| p.max(1)));
            let nd = d.digits.len();
            let mut p = prec.map_or(nd, |p| p.max(1));
            let mut eprec = p;
            if eprec > nd && i64::try_from(nd).unwrap_or(i64::MAX) >= d.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= i64::try_from(eprec).unwrap_or(i64::MAX) {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut s, &d, p.saturating_sub(1), upper);
            } else {
                if i64::try_from(p).unwrap_or(i64::MAX) > d.dp {
                    p = nd;
                }
                let frac = (i64::try_from(p).unwrap_or(i64::MAX) - d.dp).max(0);
                fmt_f(&mut s, &d, usize::try_from(frac).unwrap_or(0));
            }
        }
    }
    s
}

/// Decimal digits of a non-negative float without trailing zeros, and the decimal point's
/// position (`0.0123`: digits `123`, dp -1). Zero has no digits.
struct Digits {
    digits: Vec<u8>,
    dp: i64,
}

/// The shortest digits that read back as `a` (`None`), or `a` rounded to `n` significant
/// digits. Rust's `{:e}` gives both, correctly rounded.
fn digits(a: f64, significant: Option<usize>) -> Digits {
    if a == 0.0 {
        return Digits { digits: Vec::new(), dp: 0 };
    }
    let text = match significant {
        Some(n) => format!("{:.*e}", n.saturating_sub(1), a),
        None => format!("{a:e}"),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    Digits { digits, dp: exp + 1 }
}

fn fmt_e(s: &mut String, d: &Digits, prec: usize, upper: bool) {
    s.push(d.digits.first().map_or('0', |&b| char::from(b)));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(d.digits.get(i).map_or('0', |&b| char::from(b)));
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.abs());
}

fn fmt_f(s: &mut String, d: &Digits, prec: usize) {
    if d.dp > 0 {
        for i in 0..usize::try_from(d.dp).unwrap_or(0) {
            s.push(d.digits.get(i).map_or('0', |&b| char::from(b)));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            let j = d.dp + i64::try_from(i).unwrap_or(0) - 1;
            let c = usize::try_from(j).ok().and_then(|j| d.digits.get(j)).map_or('0', |&b| char::from(b));
            s.push(c);
        }
    }
}

/// Go's `unicode.IsPrint`, near enough: letters, marks, numbers, punctuation, symbols and the
/// ASCII space; not controls, other spaces or format characters.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
        || ('\u{E000}'..='\u{F8FF}').contains(&c)
        || ('\u{FFF9}'..='\u{FFFB}').contains(&c))
}

/// `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_char(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `strconv.QuoteRune`.
pub(crate) fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_char(&mut out, c, '\'');
    out.push('\'');
    out
}

fn escape_char(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_v() {
        for (f, want) in [
            (1e6, "1e+06"),
            (100_000.0, "100000"),
            (2.75, "2.75"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.0, "0"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_value(&Value::Float(f)), want, "{f}");
        }
    }

    #[test]
    fn printf_verbs_and_flags_as_go() {
        let s = |x: &str| Value::String(x.to_string());
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%s|%d|%v", vec![s("a"), Value::Int(-3), Value::Float(1.5)], "a|-3|1.5"),
            ("%q %x %X", vec![s("a\"b\n"), Value::Int(255), s("hi")], r#""a\"b\n" ff 6869"#),
            ("%f %.2f %e %g", vec![Value::Float(1.23456); 4], "1.234560 1.23 1.234560e+00 1.23456"),
            ("%t %c %5s|%-5s|", vec![Value::Bool(true), Value::Int(65), s("ab"), s("cd")], "true A    ab|cd   |"),
            ("%05d %+d %% %x", vec![Value::Int(-42), Value::Int(7), Value::Int(-255)], "-0042 +7 % -ff"),
            ("%d", vec![s("x")], "%!d(string=x)"),
            ("%d %d", vec![Value::Int(1)], "1 %!d(MISSING)"),
            ("%d", vec![Value::Int(1), s("a"), Value::Nil], "1%!(EXTRA string=a, <nil>)"),
            ("%v %d %s", vec![Value::Nil, Value::Nil, Value::Nil], "<nil> %!d(<nil>) %!s(<nil>)"),
            ("%d", vec![Value::list([Value::Int(1), Value::Nil])], "[1 <nil>]"),
            ("%q", vec![Value::map([("a", s("b"))])], r#"map["a":"b"]"#),
            ("%8.3f|%-8.2e|%08.3f", vec![Value::Float(-1.23456); 3], "  -1.235|-1.23e+00|-001.235"),
            (
                "%.3g %g %G",
                vec![Value::Float(1234.5678), Value::Float(1e-7), Value::Float(1e21)],
                "1.23e+03 1e-07 1E+21",
            ),
            ("%#x %#o %b %O", vec![Value::Int(255), Value::Int(8), Value::Int(5), Value::Int(8)], "0xff 010 101 0o10"),
            ("%.1s|%q|%U", vec![s("héllo"), Value::Int(0x263A), Value::Int(0x41)], "h|'☺'|U+0041"),
            ("%", vec![], "%!(NOVERB)"),
            ("%T %T", vec![Value::Float(1.0), Value::list([])], "float64 []interface {}"),
        ];
        for (format, args, want) in cases {
            assert_eq!(sprintf(format, &args), want, "{format}");
        }
    }

    #[test]
    fn sprint_spaces_only_between_non_strings() {
        let args = [Value::Int(1), Value::Int(2), Value::from("a"), Value::Int(3), Value::from("b"), Value::from("c")];
        assert_eq!(sprint(&args), "1 2a3bc");
        assert_eq!(sprintln(&args), "1 2 a 3 b c\n");
    }
}
