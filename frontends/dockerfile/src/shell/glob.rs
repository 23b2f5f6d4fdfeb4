//! Shell patterns (`*`, `?`, `[a-z]`, `[!x]`, escapes) for `${v#p}`,
//! `${v%p}` and `${v/p/r}`.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// A parsed shell pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern(Vec<Token>);

impl Pattern {
    /// Parses a pattern; a `[` without its `]` is a literal.
    pub(super) fn parse(src: &str, escape: char) -> Pattern {
        let chars: Vec<char> = src.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                c if c == escape && i < chars.len() => {
                    tokens.push(Token::Char(chars[i]));
                    i += 1;
                }
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '[' => match parse_class(&chars[i..]) {
                    Some((class, used)) => {
                        tokens.push(class);
                        i += used;
                    }
                    None => tokens.push(Token::Char('[')),
                },
                c => tokens.push(Token::Char(c)),
            }
        }
        Pattern(tokens)
    }

    /// True when the whole of `s` matches.
    pub(super) fn matches(&self, s: &[char]) -> bool {
        matches_at(&self.0, s)
    }

    /// `${v#p}` / `${v##p}`: removes the shortest (longest) matching prefix.
    pub(super) fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let ends: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new((0..=chars.len()).rev())
        } else {
            Box::new(0..=chars.len())
        };
        for end in ends {
            if self.matches(&chars[..end]) {
                return chars[end..].iter().collect();
            }
        }
        value.to_string()
    }

    /// `${v%p}` / `${v%%p}`: removes the shortest (longest) matching suffix.
    pub(super) fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let starts: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new(0..=chars.len())
        } else {
            Box::new((0..=chars.len()).rev())
        };
        for start in starts {
            if self.matches(&chars[start..]) {
                return chars[..start].iter().collect();
            }
        }
        value.to_string()
    }

    /// `${v/p/r}` / `${v//p/r}`: replaces the first (every) leftmost-longest match.
    pub(super) fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut start = 0;
        let mut replaced = false;
        while start <= chars.len() {
            if replaced && !all {
                out.extend(&chars[start..]);
                return out;
            }
            let found = (start..=chars.len())
                .rev()
                .find(|&end| self.matches(&chars[start..end]));
            match found {
                Some(end) => {
                    out.push_str(replacement);
                    replaced = true;
                    if end == start {
                        // An empty match: keep one character and move on.
                        if let Some(c) = chars.get(start) {
                            out.push(*c);
                        }
                        start += 1;
                    } else {
                        start = end;
                    }
                }
                None => {
                    if let Some(c) = chars.get(start) {
                        out.push(*c);
                    }
                    start += 1;
                }
            }
        }
        out
    }
}

fn parse_class(chars: &[char]) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = matches!(chars.first(), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        first = false;
        if i + 2 < chars.len() && chars[i + 1] == '-' && chars[i + 2] != ']' {
            items.push((c, chars[i + 2]));
            i += 3;
        } else {
            items.push((c, c));
            i += 1;
        }
    }
    None
}

fn matches_at(tokens: &[Token], s: &[char]) -> bool {
    match tokens.split_first() {
        None => s.is_empty(),
        Some((Token::Star, rest)) => (0..=s.len()).any(|i| matches_at(rest, &s[i..])),
        Some((tok, rest)) => match s.split_first() {
            None => false,
            Some((c, s_rest)) => {
                let ok = match tok {
                    Token::Char(t) => t == c,
                    Token::Any => true,
                    Token::Class { negated, items } => {
                        items.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                    }
                    Token::Star => false,
                };
                ok && matches_at(rest, s_rest)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_escapes() {
        let p = Pattern::parse("[a-c]?\\*", '\\');
        assert!(p.matches(&"bx*".chars().collect::<Vec<_>>()));
        assert!(!p.matches(&"dx*".chars().collect::<Vec<_>>()));
        let p = Pattern::parse("[!0-9]*", '\\');
        assert!(p.matches(&"abc".chars().collect::<Vec<_>>()));
        assert!(!p.matches(&"1bc".chars().collect::<Vec<_>>()));
        assert_eq!(Pattern::parse("[x", '\\').0.len(), 2);
    }
}
