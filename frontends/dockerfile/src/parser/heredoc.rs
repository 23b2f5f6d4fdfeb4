//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) in RUN, COPY and ADD.

/// A heredoc document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (also the file name for COPY).
    pub name: String,
    /// The body, each line ending in `\n`, tabs not yet stripped.
    pub content: String,
    /// Variables are expanded in the body (the delimiter was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body and the delimiter.
    pub chomp: bool,
    /// The file descriptor before `<<` (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

impl Heredoc {
    /// The body with `<<-` tab stripping applied.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// Shell-like words of a line, with quotes and escapes kept as written.
fn raw_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\'
                    && q == '"'
                    && let Some(n) = chars.next()
                {
                    word.push(n);
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                word.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == '\\'
                    && let Some(n) = chars.next()
                {
                    word.push(n);
                }
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Removes quotes and escapes from a delimiter word, as BuildKit's shell
/// lexer does with `\` as the escape. Returns the word and whether any
/// quote took effect (an escaped quote is a plain character).
fn unquote(word: &str) -> (String, bool) {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.peek() {
                Some(&n) if matches!(n, '"' | '$' | '\\') => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                quoted = true;
            }
            (None, c) => out.push(c),
        }
    }
    (out, quoted)
}

/// Parses one word as a heredoc start: `[fd]<<[-]NAME`, as BuildKit's
/// `^(\d*)<<(-?)([^<]*)$`. Quoting any part of the name turns expansion
/// of the body off.
pub fn parse_heredoc_word(word: &str) -> Option<Heredoc> {
    let at = word.find("<<")?;
    let (fd, rest) = (&word[..at], &word[at + 2..]);
    if !fd.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let (name, quoted) = unquote(rest);
    if name.is_empty() {
        return None;
    }
    Some(Heredoc {
        expand: !quoted,
        name,
        content: String::new(),
        chomp,
        fd: fd.parse().unwrap_or(0),
    })
}

/// The heredocs a line starts, in order.
pub(super) fn heredocs_from_line(line: &str) -> Vec<Heredoc> {
    raw_words(line)
        .iter()
        .filter_map(|w| parse_heredoc_word(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_words() {
        let h = parse_heredoc_word("<<EOF").unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.chomp), ("EOF", true, false));
        let h = parse_heredoc_word("<<-'EOT'").unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.chomp), ("EOT", false, true));
        let h = parse_heredoc_word("3<<\"file.txt\"").unwrap();
        assert_eq!((h.name.as_str(), h.fd, h.expand), ("file.txt", 3, false));
        assert!(parse_heredoc_word("<<").is_none());
        assert!(parse_heredoc_word("a<<b").is_none());
        assert!(parse_heredoc_word("<<<x").is_none());
        assert!(parse_heredoc_word("x<<EOF").is_none());
    }

    #[test]
    fn quoting_decides_expansion() {
        // An escaped quote is a plain character: the body still expands.
        let h = parse_heredoc_word("<<E\\\"OF").unwrap();
        assert_eq!((h.name.as_str(), h.expand), ("E\"OF", true));
        let h = parse_heredoc_word("<<E\"O\"F").unwrap();
        assert_eq!((h.name.as_str(), h.expand), ("EOF", false));
        // Quoted names may hold spaces.
        let h = parse_heredoc_word("<<\"A B\"").unwrap();
        assert_eq!(h.name, "A B");
        // In double quotes only \", \$ and \\ are escapes.
        let h = parse_heredoc_word("<<\"a\\xb\\$\"").unwrap();
        assert_eq!(h.name, "a\\xb$");
    }

    #[test]
    fn quoted_heredoc_markers_are_not_heredocs() {
        assert!(heredocs_from_line("RUN echo '<<EOF'").is_empty());
        assert_eq!(heredocs_from_line("COPY <<A <<B /dst/").len(), 2);
    }

    #[test]
    fn chomp_strips_leading_tabs() {
        let mut h = parse_heredoc_word("<<-E").unwrap();
        h.content = "\t\ta\n\tb\n".into();
        assert_eq!(h.body(), "a\nb\n");
    }
}
