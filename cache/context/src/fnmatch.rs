//! Go's `filepath.Match` for one path component, as BuildKit uses it to
//! expand wildcards in COPY/ADD sources (`*`, `?`, `[...]` with `^`
//! negation and ranges, `\` escapes; nothing crosses a `/`).

/// Whether a source path component contains wildcard syntax (BuildKit's
/// `containsWildcards`: an escaped character is never a wildcard).
pub(crate) fn has_wildcards(component: &str) -> bool {
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Whether `pattern` is well formed for `filepath.Match`.
pub(crate) fn is_valid(pattern: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return false;
                }
                i += 2;
            }
            '[' => match class(&p, i + 1, None) {
                Some((_, next)) => i = next,
                None => return false,
            },
            _ => i += 1,
        }
    }
    true
}

/// Matches one component `name` against `pattern`. Invalid patterns match
/// nothing (callers validate first and report the error).
pub(crate) fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    matches(&p, &s)
}

fn matches(p: &[char], s: &[char]) -> bool {
    let Some(&first) = p.first() else {
        return s.is_empty();
    };
    match first {
        '*' => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if i > 0 && s[i - 1] == '/' {
                    return false;
                }
                if matches(rest, &s[i..]) {
                    return true;
                }
            }
            false
        }
        '?' => !s.is_empty() && s[0] != '/' && matches(&p[1..], &s[1..]),
        '[' => match (s.first(), class(p, 1, s.first().copied())) {
            (Some(_), Some((true, next))) => matches(&p[next..], &s[1..]),
            _ => false,
        },
        '\\' => match (p.get(1), s.first()) {
            (Some(a), Some(b)) if a == b => matches(&p[2..], &s[1..]),
            _ => false,
        },
        c => s.first() == Some(&c) && matches(&p[1..], &s[1..]),
    }
}

/// Parses a class starting after `[` at `i`; returns whether `c` (if any)
/// is matched and the index after `]`, or `None` if the class is malformed.
fn class(p: &[char], mut i: usize, c: Option<char>) -> Option<(bool, usize)> {
    let mut negated = false;
    if p.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut matched = false;
    let mut count = 0;
    loop {
        if p.get(i) == Some(&']') && count > 0 {
            return Some((matched != negated, i + 1));
        }
        let lo = escaped(p, &mut i)?;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            i += 1;
            hi = escaped(p, &mut i)?;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
        count += 1;
    }
}

fn escaped(p: &[char], i: &mut usize) -> Option<char> {
    let c = *p.get(*i)?;
    if c == '-' || c == ']' {
        return None;
    }
    *i += 1;
    if c == '\\' {
        let e = *p.get(*i)?;
        *i += 1;
        return Some(e);
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows from Go's `filepath.Match` test table.
    #[test]
    fn go_match_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*/b", "abc/b", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("*x", "xxx", true),
        ];
        for &(p, s, want) in cases {
            assert!(is_valid(p), "{p:?} should be valid");
            assert_eq!(fnmatch(p, s), want, "pattern {p:?} name {s:?}");
        }
        for bad in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn wildcard_detection_ignores_escapes() {
        assert!(has_wildcards("*.py"));
        assert!(has_wildcards("a[bc]"));
        assert!(!has_wildcards("a\\*b"));
        assert!(!has_wildcards("requirements.txt"));
    }
}
