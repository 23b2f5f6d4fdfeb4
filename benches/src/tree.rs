//! A generated build context: by default 20,000 files, about 230 MB, with
//! the size mix of a real project (many small sources, fewer medium data
//! files, a few large binary assets), from a seeded PRNG.
//!
//! Layout under the root:
//!
//! ```text
//! README.md
//! edit/settings.py          the one file benchmarks change (see edit_file)
//! src/pAA/mBB/fNNNNN.py     small text, 200 B – 6 KB (80% of the files)
//! src/pAA/mBB/fNNNNN.json   medium text, 6 – 34 KB (19%)
//! src/pAA/mBB/latest.py     a relative symlink, in one directory of 50
//! assets/N/aNNNNN.bin       binary, 64 – 976 KB, partly compressible (1%)
//! ```
//!
//! Every file and directory gets the same modification time
//! ([`FIXED_MTIME`]), so layer bytes are the same on every run and no file
//! is "racily clean" for the stat cache. A tree is generated once per
//! `(seed, files)` under a base directory and reused by later runs; a
//! `.done` marker beside it, written last, says it is complete.

use crate::error::BenchError;
use crate::rng::SplitMix64;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Files in the full-size tree.
pub const FULL_FILES: u32 = 20_000;

/// Modification time of every generated entry: 2024-01-01T00:00:00Z.
pub const FIXED_MTIME: u64 = 1_704_067_200;

/// Bump when the generator changes, so old trees are not reused.
const GENERATOR_VERSION: u32 = 1;

/// The file benchmarks edit, relative to the root.
pub const EDIT_FILE: &str = "edit/settings.py";

/// Files per directory below `src/`.
const FILES_PER_DIR: u32 = 20;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeSpec {
    /// Number of generated files (besides `README.md` and the edit file).
    pub files: u32,
    /// PRNG seed.
    pub seed: u64,
}

impl TreeSpec {
    /// The full-size tree: 20,000 files, about 230 MB.
    pub fn full() -> TreeSpec {
        TreeSpec::scaled(FULL_FILES)
    }

    /// The same mix with `files` files (about 11.5 KB each on average).
    pub fn scaled(files: u32) -> TreeSpec {
        TreeSpec {
            files,
            seed: 0x5742_4154_4131,
        }
    }

    fn dir_name(&self) -> String {
        format!("tree-v{GENERATOR_VERSION}-s{:x}-{}", self.seed, self.files)
    }
}

/// A generated tree and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The context root.
    pub root: PathBuf,
    /// Regular files, including `README.md` and the edit file.
    pub files: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Directories, including the root.
    pub dirs: u64,
    /// Bytes of file content (the edit file counted in its base form).
    pub file_bytes: u64,
}

impl Tree {
    /// Every entry: files, symlinks and directories.
    pub fn entries(&self) -> u64 {
        self.files + self.symlinks + self.dirs
    }

    /// The file benchmarks edit to measure "one file changed".
    pub fn edit_file(&self) -> PathBuf {
        self.root.join(EDIT_FILE)
    }

    /// Rewrites the edit file as `variant` (0 is the base form), keeping the
    /// fixed modification time. Variants differ in content and size.
    pub fn edit(&self, variant: u64) -> Result<(), BenchError> {
        write_file(&self.edit_file(), &edit_content(variant))
    }
}

/// Returns the tree for `spec` under `base`, generating it unless a
/// complete one is already there. The edit file is reset to its base form.
pub fn ensure(base: &Path, spec: &TreeSpec) -> Result<Tree, BenchError> {
    let root = base.join(spec.dir_name());
    let marker = base.join(format!("{}.done", spec.dir_name()));
    if let Some(tree) = read_marker(&marker, &root) {
        tree.edit(0)?;
        return Ok(tree);
    }
    match fs::remove_dir_all(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BenchError::io("remove", &root, e)),
    }
    let tree = generate(&root, spec)?;
    let text = format!(
        "{} {} {} {}\n",
        tree.files, tree.symlinks, tree.dirs, tree.file_bytes
    );
    let tmp = marker.with_extension("tmp");
    write_file(&tmp, text.as_bytes())?;
    fs::rename(&tmp, &marker).map_err(|e| BenchError::io("rename", &marker, e))?;
    Ok(tree)
}

fn read_marker(marker: &Path, root: &Path) -> Option<Tree> {
    let text = fs::read_to_string(marker).ok()?;
    let nums: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [files, symlinks, dirs, file_bytes] = nums[..] else {
        return None;
    };
    root.is_dir().then(|| Tree {
        root: root.to_path_buf(),
        files,
        symlinks,
        dirs,
        file_bytes,
    })
}

/// What one generated entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedKind {
    /// A text file of this many bytes.
    Text(u64),
    /// A binary file of this many bytes.
    Binary(u64),
    /// A symbolic link to this target.
    Symlink(String),
}

/// One entry of a tree's layout, before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// What to write there.
    pub kind: PlannedKind,
}

/// The entries [`generate`] writes for `spec`, in order (parents are
/// created on the way); cheap, nothing is written.
pub fn layout(spec: &TreeSpec) -> Vec<Planned> {
    let mut rng = SplitMix64::new(spec.seed);
    let mut out = vec![
        Planned {
            rel: "README.md".into(),
            kind: PlannedKind::Text(1_500),
        },
        Planned {
            rel: EDIT_FILE.into(),
            kind: PlannedKind::Text(edit_content(0).len() as u64),
        },
    ];
    let mut last_text_name: Option<String> = None;
    for i in 0..spec.files {
        let d = i / FILES_PER_DIR;
        let src_dir = format!("src/p{:02}/m{:02}", d / 50, d % 50);
        if i % FILES_PER_DIR == 0 {
            last_text_name = None;
        }
        let kind = rng.below(1000);
        if kind < 990 {
            let (size, ext) = if kind < 800 {
                (rng.between(200, 6_000), "py")
            } else {
                (rng.between(6_000, 34_000), "json")
            };
            let name = format!("f{i:05}.{ext}");
            out.push(Planned {
                rel: format!("{src_dir}/{name}"),
                kind: PlannedKind::Text(size),
            });
            last_text_name = Some(name);
        } else {
            out.push(Planned {
                rel: format!("assets/{}/a{i:05}.bin", i % 10),
                kind: PlannedKind::Binary(rng.between(64 << 10, 976 << 10)),
            });
        }
        let dir_done = i % FILES_PER_DIR == FILES_PER_DIR - 1 || i + 1 == spec.files;
        if dir_done
            && d.is_multiple_of(50)
            && let Some(target) = &last_text_name
        {
            out.push(Planned {
                rel: format!("{src_dir}/latest.py"),
                kind: PlannedKind::Symlink(target.clone()),
            });
        }
    }
    out
}

/// Generates the tree for `spec` at `root` (which must not exist yet).
/// File contents come from a PRNG seeded per file, so they do not depend
/// on the order of writing.
pub fn generate(root: &Path, spec: &TreeSpec) -> Result<Tree, BenchError> {
    let mut tree = Tree {
        root: root.to_path_buf(),
        files: 0,
        symlinks: 0,
        dirs: 1,
        file_bytes: 0,
    };
    fs::create_dir_all(root).map_err(|e| BenchError::io("create", root, e))?;
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::from([root.to_path_buf()]);
    for (n, entry) in layout(spec).iter().enumerate() {
        let path = root.join(&entry.rel);
        if let Some(parent) = path.parent().filter(|p| !p.is_dir()) {
            fs::create_dir_all(parent).map_err(|e| BenchError::io("create", parent, e))?;
            let mut p = parent;
            while p != root && dirs.insert(p.to_path_buf()) {
                tree.dirs += 1;
                match p.parent() {
                    Some(up) => p = up,
                    None => break,
                }
            }
        }
        let mut rng = SplitMix64::new(spec.seed ^ (n as u64).wrapping_mul(0x9e37_79b9));
        match &entry.kind {
            PlannedKind::Text(size) | PlannedKind::Binary(size) => {
                let content = if entry.rel == EDIT_FILE {
                    edit_content(0)
                } else if matches!(entry.kind, PlannedKind::Text(_)) {
                    text(&mut rng, *size as usize)
                } else {
                    binary(&mut rng, *size as usize)
                };
                write_file(&path, &content)?;
                tree.files += 1;
                tree.file_bytes += content.len() as u64;
            }
            PlannedKind::Symlink(target) => {
                std::os::unix::fs::symlink(target, &path)
                    .map_err(|e| BenchError::io("symlink", &path, e))?;
                set_link_mtime(&path)?;
                tree.symlinks += 1;
            }
        }
    }
    // Deepest first, so setting a child's time does not disturb its parent.
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in &dirs {
        let f = File::open(dir).map_err(|e| BenchError::io("open", dir, e))?;
        f.set_modified(fixed_time())
            .map_err(|e| BenchError::io("set mtime of", dir, e))?;
    }
    Ok(tree)
}

fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(FIXED_MTIME)
}

/// Gives a symlink itself the fixed modification time.
fn set_link_mtime(path: &Path) -> Result<(), BenchError> {
    let t = rustix::fs::Timespec {
        tv_sec: FIXED_MTIME as i64,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| BenchError::io("set mtime of", path, e.into()))
}

/// Writes `content` to `path` and gives it the fixed modification time.
fn write_file(path: &Path, content: &[u8]) -> Result<(), BenchError> {
    let mut f = File::create(path).map_err(|e| BenchError::io("create", path, e))?;
    f.write_all(content)
        .map_err(|e| BenchError::io("write", path, e))?;
    f.set_modified(fixed_time())
        .map_err(|e| BenchError::io("set mtime of", path, e))
}

fn edit_content(variant: u64) -> Vec<u8> {
    let mut content = text(&mut SplitMix64::new(0xed17), 2_000);
    if variant > 0 {
        content.extend_from_slice(format!("EDIT_VARIANT = {variant}\n").as_bytes());
    }
    content
}

const WORDS: &[&str] = &[
    "self",
    "return",
    "def",
    "import",
    "from",
    "class",
    "if",
    "else",
    "for",
    "in",
    "None",
    "True",
    "False",
    "request",
    "response",
    "model",
    "field",
    "value",
    "items",
    "config",
    "data",
    "user",
    "id",
    "name",
    "path",
    "context",
    "render",
    "query",
    "filter",
    "objects",
    "settings",
    "logger",
    "error",
    "result",
    "=",
    "==",
    "(",
    ")",
    ":",
    ",",
    ".",
    "[",
    "]",
    "\"status\"",
    "'utf-8'",
    "0",
    "1",
    "42",
    "len",
    "str",
    "int",
    "dict",
    "list",
    "await",
];

/// Source-like text of exactly `size` bytes: indented lines of words.
fn text(rng: &mut SplitMix64, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    while out.len() < size {
        let indent = rng.below(4) as usize * 4;
        out.resize(out.len() + indent, b' ');
        for w in 0..rng.between(2, 9) {
            if w > 0 {
                out.push(b' ');
            }
            let word = WORDS[rng.below(WORDS.len() as u64) as usize];
            out.extend_from_slice(word.as_bytes());
        }
        out.push(b'\n');
    }
    out.truncate(size);
    out
}

/// Binary content of exactly `size` bytes: 4 KiB blocks, 40% random
/// (incompressible) and 60% low-entropy (about 2:1 compressible).
fn binary(rng: &mut SplitMix64, size: usize) -> Vec<u8> {
    const SYMBOLS: [u8; 16] = [
        0, 0, 0, 0, 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0xff, 0x7f, 0x3f, 0x1f,
    ];
    let mut out = vec![0u8; size];
    for block in out.chunks_mut(4096) {
        if rng.below(10) < 4 {
            rng.fill(block);
        } else {
            for part in block.chunks_mut(16) {
                let bits = rng.next_u64();
                for (k, b) in part.iter_mut().enumerate() {
                    *b = SYMBOLS[((bits >> (4 * k)) & 0xf) as usize];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_and_binary_have_the_exact_size_and_text_is_lines() {
        let mut r = SplitMix64::new(3);
        let t = text(&mut r, 5_000);
        assert_eq!(t.len(), 5_000);
        assert!(t.iter().filter(|&&b| b == b'\n').count() > 50);
        assert_eq!(binary(&mut r, 10_001).len(), 10_001);
    }
}
