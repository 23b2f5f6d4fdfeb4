//! `--chmod` values: octal (`755`, `0644`) or symbolic (`u+x,g-w,o=r`).

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// Octal: the exact permission bits.
    Octal(u32),
    /// Symbolic clauses, applied in order to each file's own mode.
    Symbolic(Vec<Clause>),
}

/// One symbolic clause such as `ug+rx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    op: char,
    perms: Perms,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Perms {
    bits: u32,
    /// `X`: execute only for directories or files already executable by someone.
    cond_exec: bool,
}

/// A `--chmod` value that is neither octal nor symbolic.
#[derive(Debug, thiserror::Error)]
#[error("invalid --chmod value {0:?}: expected octal (755) or symbolic (u+x,g-w)")]
pub struct ChmodError(pub String);

impl Chmod {
    /// Parses a `--chmod` value.
    pub fn parse(value: &str) -> Result<Chmod, ChmodError> {
        let bad = || ChmodError(value.to_string());
        if !value.is_empty() && value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            let bits = u32::from_str_radix(value, 8).map_err(|_| bad())?;
            if bits > 0o7777 {
                return Err(bad());
            }
            return Ok(Chmod::Octal(bits));
        }
        let mut clauses = Vec::new();
        for part in value.split(',') {
            let op_at = part.find(['+', '-', '=']).ok_or_else(bad)?;
            let (who_s, rest) = part.split_at(op_at);
            let mut who = 0;
            for c in who_s.chars() {
                who |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => return Err(bad()),
                };
            }
            if who == 0 {
                who = 0o7777;
            }
            let mut chars = rest.chars();
            let op = chars.next().ok_or_else(bad)?;
            let mut perms = Perms {
                bits: 0,
                cond_exec: false,
            };
            for c in chars {
                match c {
                    'r' => perms.bits |= 0o444,
                    'w' => perms.bits |= 0o222,
                    'x' => perms.bits |= 0o111,
                    'X' => perms.cond_exec = true,
                    's' => perms.bits |= 0o6000,
                    't' => perms.bits |= 0o1000,
                    _ => return Err(bad()),
                }
            }
            clauses.push(Clause { who, op, perms });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The new permission bits for an entry whose mode is `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(bits) => *bits,
            Chmod::Symbolic(clauses) => {
                let mut mode = mode & 0o7777;
                for clause in clauses {
                    let mut bits = clause.perms.bits;
                    if clause.perms.cond_exec && (is_dir || mode & 0o111 != 0) {
                        bits |= 0o111;
                    }
                    let bits = bits & clause.who;
                    match clause.op {
                        '+' => mode |= bits,
                        '-' => mode &= !bits,
                        _ => mode = (mode & !clause.who) | bits,
                    }
                }
                mode
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal() {
        assert_eq!(Chmod::parse("755").unwrap().apply(0o600, false), 0o755);
        assert_eq!(Chmod::parse("04755").unwrap().apply(0, false), 0o4755);
        assert!(Chmod::parse("8").is_err());
        assert!(Chmod::parse("77777").is_err());
    }

    #[test]
    fn symbolic() {
        let c = Chmod::parse("u+x,g-w,o=r").unwrap();
        assert_eq!(c.apply(0o664, false), 0o744);
        assert_eq!(Chmod::parse("+x").unwrap().apply(0o644, false), 0o755);
        assert_eq!(Chmod::parse("a=rX").unwrap().apply(0o600, true), 0o555);
        assert_eq!(Chmod::parse("a=rX").unwrap().apply(0o600, false), 0o444);
        assert_eq!(Chmod::parse("a=rX").unwrap().apply(0o700, false), 0o555);
        assert_eq!(Chmod::parse("u+s").unwrap().apply(0o755, false), 0o4755);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "u", "z+x", "u+q", "u+x,"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
