//! Splitting an instruction line into keyword, flags and arguments, with
//! the argument rules of each keyword (BuildKit's dispatch table).

use super::{Arg, Directives, Node, SourceMap};

/// A line that cannot be split: the message, and where it applies as the
/// length of the line's (end-trimmed) tail starting there.
#[derive(Debug)]
pub(super) struct ArgError {
    pub message: String,
    pub suffix_len: usize,
}

impl ArgError {
    /// An error about `tail`, a suffix of the line.
    fn at(message: impl Into<String>, tail: &str) -> Self {
        ArgError {
            message: message.into(),
            suffix_len: tail.len(),
        }
    }
}

/// Characters Go's regexp `[\t\v\f\r ]` treats as separators between the
/// keyword and its arguments.
fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Builds a node from one logical line (continuations joined).
pub(super) fn node_from_line(line: &str, d: &Directives) -> Result<Node, ArgError> {
    let trimmed = line.trim();
    let (cmd, rest) = match trimmed.find(is_sep) {
        Some(at) => (&trimmed[..at], trimmed[at..].trim_start_matches(is_sep)),
        None => (trimmed, ""),
    };
    let (rest, flags) = if rest.is_empty() {
        (String::new(), Vec::new())
    } else {
        extract_flags(rest)
    };
    let rest = rest.trim();
    let keyword = cmd.to_ascii_lowercase();
    let (args, json) = parse_args(&keyword, rest, d)?;
    Ok(Node {
        keyword,
        keyword_raw: cmd.to_string(),
        flags,
        args,
        json,
        heredocs: Vec::new(),
        original: line.to_string(),
        start_line: 0,
        end_line: 0,
        comments: Vec::new(),
        source_map: SourceMap::default(),
    })
}

fn parse_args(keyword: &str, rest: &str, d: &Directives) -> Result<(Vec<Arg>, bool), ArgError> {
    let words = |v: Vec<String>| v.into_iter().map(Arg::Word).collect::<Vec<_>>();
    Ok(match keyword {
        "add" | "copy" | "volume" => match parse_json(rest) {
            Json::Ok(v) => (words(v), true),
            Json::NotStrings => return Err(ArgError::at(NOT_STRING_ARRAY, rest)),
            Json::Invalid => (words(split_whitespace(rest)), false),
        },
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest).map(|(v, j)| (words(v), j))?,
        "arg" => (words(parse_words(rest, d.escape)), false),
        "env" => (words(name_val(rest, "ENV", d.escape)?), false),
        "label" => (words(name_val(rest, "LABEL", d.escape)?), false),
        "expose" | "from" => (words(split_whitespace(rest)), false),
        "healthcheck" => {
            let sep = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
            if sep == 0 {
                (Vec::new(), false)
            } else {
                let (typ, cmd) = rest.split_at(sep);
                let (mut cmd_args, json) = maybe_json(cmd.trim_start())?;
                cmd_args.insert(0, typ.to_string());
                (words(cmd_args), json)
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if rest.is_empty() {
                (Vec::new(), false)
            } else {
                (vec![Arg::Word(rest.to_string())], false)
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                (Vec::new(), false)
            } else {
                let child = node_from_line(rest, d)?;
                (vec![Arg::Node(Box::new(child))], false)
            }
        }
        // Unknown instructions keep one empty argument (BuildKit's
        // `parseIgnore`); the instruction stage rejects them with their
        // location.
        _ => (vec![Arg::Word(String::new())], false),
    })
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

enum Json {
    Ok(Vec<String>),
    NotStrings,
    Invalid,
}

fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::Invalid;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Ok(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Ok(out)
        }
        Err(_) => Json::Invalid,
    }
}

/// JSON form if the text is a JSON array of strings, else the whole text
/// as one shell-form argument.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), ArgError> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest) {
        Json::Ok(v) => Ok((v, true)),
        Json::NotStrings => Err(ArgError::at(NOT_STRING_ARRAY, rest)),
        Json::Invalid => Ok((vec![rest.to_string()], false)),
    }
}

fn split_whitespace(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_sep)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// ASCII blanks as Go's `unicode.IsSpace` sees them (with `\v`).
fn is_flag_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Leading `--flag` words, with quotes and backslashes processed; returns
/// the rest of the line and the flags. A `--` word ends the flags.
pub(super) fn extract_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut word: Vec<u8> = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    let push = |words: &mut Vec<String>, word: &[u8]| {
        words.push(String::from_utf8_lossy(word).into_owned());
    };
    while pos <= bytes.len() {
        let ch = bytes.get(pos).copied().unwrap_or(0);
        if phase == Phase::Spaces {
            if pos == bytes.len() {
                break;
            }
            if is_flag_space(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                return (line[pos..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if pos == bytes.len() {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                push(&mut words, &word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_flag_space(ch) {
                phase = Phase::Spaces;
                if word == b"--" {
                    return (line[pos..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    push(&mut words, &word);
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == b'\\' {
                if pos + 1 == bytes.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = bytes[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == b'\\' {
            if pos + 1 == bytes.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = bytes[pos];
        }
        word.push(c);
        pos += 1;
    }
    (String::new(), words)
}

/// Splits words for ENV/LABEL/ARG, keeping quotes and escapes in the words
/// (they are processed later, during expansion).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == chars.len() {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == chars.len() {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            let mut c = ch;
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                c = chars[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        if ch == quote {
            phase = Phase::Word;
        }
        let mut c = ch;
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            c = chars[pos];
        }
        word.push(c);
        pos += 1;
    }
    words
}

/// `KEY name value` (legacy) or `KEY a=b c=d` → triples of name, value,
/// separator (`""` or `"="`).
fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, ArgError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let mut parts = rest.splitn(2, is_sep);
        let name = parts.next().unwrap_or_default();
        let value = parts.next().map(|v| v.trim_start_matches(is_sep));
        return match value {
            Some(value) => Ok(vec![name.to_string(), value.to_string(), String::new()]),
            None => Err(ArgError::at(format!("{key} must have two arguments"), rest)),
        };
    }
    let mut out = Vec::new();
    let mut cursor = 0;
    for word in words {
        // Words keep their quotes and escapes, so each is in the text.
        let at = rest
            .get(cursor..)
            .and_then(|r| r.find(word.as_str()))
            .map_or(cursor, |i| cursor + i);
        cursor = at + word.len();
        let Some((k, v)) = word.split_once('=') else {
            return Err(ArgError::at(
                format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"),
                rest.get(at..).unwrap_or_default(),
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_double_dash_and_first_non_flag() {
        assert_eq!(
            extract_flags("--from=a --chown=\"x y\" src dst"),
            (
                "src dst".to_string(),
                vec!["--from=a".to_string(), "--chown=x y".to_string()]
            )
        );
        assert_eq!(
            extract_flags("--doit=true -- foo /tmp/"),
            (" foo /tmp/".to_string(), vec!["--doit=true".to_string()])
        );
        assert_eq!(
            extract_flags("--x"),
            (String::new(), vec!["--x".to_string()])
        );
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="b c" d=e\ f 'g h'"#, '\\'),
            [r#"a="b c""#, r"d=e\ f", "'g h'"]
        );
    }

    #[test]
    fn env_legacy_needs_a_value() {
        assert!(name_val("PATH", "ENV", '\\').is_err());
        assert_eq!(name_val("A  b c", "ENV", '\\').unwrap(), ["A", "b c", ""]);
    }
}
