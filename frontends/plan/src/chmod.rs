//! `--chmod` values as BuildKit reads them: octal (`755`, `0644`) or a
//! symbolic mode as chmod(1) and BSD's `setmode(3)` take it
//! (`u+x,g-w,o=r`, `a=rX`, `g=u`, `go=u-w`, `u+x-w`), which BuildKit parses
//! with a Go port of `setmode` (tonistiigi/dchapes-mode). The frontends
//! validate with it and the builder applies it.

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// Octal: the exact permission bits.
    Octal(u32),
    /// Symbolic: operations applied in order to each file's own mode.
    Symbolic(Vec<ModeOp>),
}

/// One operation of a symbolic mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeOp {
    /// Set these bits.
    Add(u32),
    /// Clear these bits.
    Remove(u32),
    /// Set these execute bits when the file was executable by anyone
    /// before the change, or is a directory (`X`).
    AddIfExecutable(u32),
    /// Copy the permissions of one class (`u`, `g` or `o`) to others
    /// (`g=u`).
    Copy {
        /// The class read: `u`, `g` or `o`.
        from: char,
        /// `+`, `-` or `=`.
        op: char,
        /// The classes written: bit 2 user, bit 1 group, bit 0 other.
        to: u8,
    },
}

/// A `--chmod` value that is neither octal nor symbolic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChmodError(pub String);

impl std::fmt::Display for ChmodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid --chmod value {:?}: expected octal (755) or symbolic (u+x,g-w,g=u)",
            self.0
        )
    }
}

impl std::error::Error for ChmodError {}

const SET_ID: u32 = 0o6000;
const STICKY: u32 = 0o1000;
/// `a`: everything but the sticky bit (setmode's `STANDARD_BITS`).
const STANDARD: u32 = 0o6777;
const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o0007;

impl Chmod {
    /// Parses a `--chmod` value.
    pub fn parse(value: &str) -> Result<Chmod, ChmodError> {
        let bad = || ChmodError(value.to_string());
        if value.starts_with(|c: char| c.is_ascii_digit()) {
            return match u32::from_str_radix(value, 8) {
                Ok(bits) if bits <= 0o7777 => Ok(Chmod::Octal(bits)),
                _ => Err(bad()),
            };
        }
        let mut ops = Vec::new();
        for clause in value.split(',') {
            parse_clause(clause, &mut ops).ok_or_else(bad)?;
        }
        Ok(Chmod::Symbolic(ops))
    }

    /// The new permission bits (with set-id and sticky bits) for an entry
    /// whose mode is `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let ops = match self {
            Chmod::Octal(bits) => return *bits,
            Chmod::Symbolic(ops) => ops,
        };
        let old = mode & 0o7777;
        let mut new = old;
        for op in ops {
            match *op {
                ModeOp::Add(bits) => new |= bits,
                ModeOp::Remove(bits) => new &= !bits,
                ModeOp::AddIfExecutable(bits) => {
                    if is_dir || old & 0o111 != 0 {
                        new |= bits;
                    }
                }
                ModeOp::Copy { from, op, to } => {
                    let shift = match from {
                        'u' => 6,
                        'g' => 3,
                        _ => 0,
                    };
                    let value = (new >> shift) & 0o7;
                    for (flag, at) in [(4u8, 6), (2, 3), (1, 0)] {
                        if to & flag == 0 {
                            continue;
                        }
                        if op != '+' {
                            let clear = if op == '=' { 0o7 } else { value };
                            new &= !(clear << at);
                        }
                        if op != '-' {
                            new |= value << at;
                        }
                    }
                }
            }
        }
        new
    }
}

/// Parses one clause (`[ugoa]*` then one or more `[+-=]` with their
/// permissions) into `ops`, as setmode does; None when it is malformed.
fn parse_clause(clause: &str, ops: &mut Vec<ModeOp>) -> Option<()> {
    let mut chars = clause.chars().peekable();
    let mut who = 0;
    while let Some(c) = chars.peek() {
        who |= match c {
            'a' => STANDARD,
            'u' => USER,
            'g' => GROUP,
            'o' => OTHER,
            _ => break,
        };
        chars.next();
    }
    // At least one operator, each followed by its permissions.
    let mut op = chars.next().filter(|c| matches!(c, '+' | '-' | '='))?;
    loop {
        let mut who_op = who & !STICKY;
        let mut perm = 0;
        let mut perm_x = 0;
        let mut copied = false;
        let next = loop {
            match chars.next() {
                Some('r') => perm |= 0o444,
                Some('w') => perm |= 0o222,
                Some('x') => perm |= 0o111,
                Some('X') if op == '+' => perm_x = 0o111,
                Some('X') => {}
                // Set-id and sticky bits are ignored for "other" alone.
                Some('s') if who_op == 0 || who_op & !OTHER != 0 => perm |= SET_ID,
                Some('t') if who_op == 0 || who_op & !OTHER != 0 => {
                    who_op |= STICKY;
                    perm |= STICKY;
                }
                Some('s' | 't') => {}
                Some(from @ ('u' | 'g' | 'o')) => {
                    if perm != 0 {
                        push(ops, op, who_op, perm);
                        perm = 0;
                    }
                    if perm_x != 0 {
                        ops.push(ModeOp::AddIfExecutable(masked(who_op, perm_x)));
                        perm_x = 0;
                    }
                    copied |= op == '=';
                    let to = if who_op == 0 {
                        0b111
                    } else {
                        u8::from(who_op & 0o400 != 0) << 2
                            | u8::from(who_op & 0o040 != 0) << 1
                            | u8::from(who_op & 0o004 != 0)
                    };
                    ops.push(ModeOp::Copy { from, op, to });
                }
                other => break other,
            }
        };
        if perm != 0 || (op == '=' && !copied) {
            push(ops, op, who_op, perm);
        }
        if perm_x != 0 {
            ops.push(ModeOp::AddIfExecutable(masked(who_op, perm_x)));
        }
        match next {
            None => return Some(()),
            Some(c @ ('+' | '-' | '=')) => op = c,
            Some(_) => return None,
        }
    }
}

/// The bits of `perm` that `who` selects (all of them for no `who`: the
/// umask setmode would apply is 0, as in BuildKit's daemon).
fn masked(who: u32, perm: u32) -> u32 {
    if who == 0 { perm } else { who & perm }
}

/// `+`/`-` of `perm`, or `=`: clear what `who` selects, then set `perm`.
fn push(ops: &mut Vec<ModeOp>, op: char, who: u32, perm: u32) {
    match op {
        '+' => ops.push(ModeOp::Add(masked(who, perm))),
        '-' => ops.push(ModeOp::Remove(masked(who, perm))),
        _ => {
            ops.push(ModeOp::Remove(if who == 0 { STANDARD } else { who }));
            ops.push(ModeOp::Add(masked(who, perm)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mode: &str, from: u32, is_dir: bool) -> u32 {
        Chmod::parse(mode).unwrap().apply(from, is_dir)
    }

    #[test]
    fn octal() {
        assert_eq!(apply("755", 0o600, false), 0o755);
        assert_eq!(apply("04755", 0, false), 0o4755);
        assert!(Chmod::parse("8").is_err());
        assert!(Chmod::parse("77777").is_err());
    }

    #[test]
    fn symbolic() {
        assert_eq!(apply("u+x,g-w,o=r", 0o664, false), 0o744);
        assert_eq!(apply("+x", 0o644, false), 0o755);
        assert_eq!(apply("a+rX", 0o600, true), 0o755);
        assert_eq!(apply("a+rX", 0o600, false), 0o644);
        assert_eq!(apply("a+rX", 0o700, false), 0o755);
        assert_eq!(apply("u+s", 0o755, false), 0o4755);
        assert_eq!(apply("go=", 0o755, false), 0o700);
    }

    /// Regression: `g=u` (OpenShift's idiom), `go=u-w` and `u+x-w` were
    /// refused; BuildKit's setmode copies a class's bits and takes several
    /// operators in one clause.
    #[test]
    fn copies_between_classes_and_chains_operators() {
        assert_eq!(apply("g=u", 0o740, false), 0o770);
        assert_eq!(apply("u+x,g=u", 0o640, false), 0o770);
        assert_eq!(apply("go=u-w", 0o755, false), 0o755);
        assert_eq!(apply("go=u-w", 0o700, false), 0o755);
        assert_eq!(apply("o+g", 0o750, false), 0o755);
        assert_eq!(apply("u+x-w", 0o644, false), 0o544);
        assert_eq!(apply("=rw,+X", 0o750, false), 0o777);
        assert_eq!(apply("=rw,+X", 0o640, false), 0o666);
    }

    /// `X` looks at the mode before the change, and only with `+`: setmode
    /// (and so BuildKit) ignores it after `=` or `-`, unlike GNU chmod.
    #[test]
    fn conditional_execute_reads_the_old_mode() {
        assert_eq!(apply("a=rX", 0o700, true), 0o444);
        assert_eq!(apply("a-x,a+X", 0o755, false), 0o755);
        assert_eq!(apply("a-x,a+X", 0o644, false), 0o644);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "u", "z+x", "u+q", "u+x,", "+x;", "ug"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
