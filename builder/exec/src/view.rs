//! Read-only lookups in the merged view of overlay layers (upper first, then
//! lowers, top first), following overlayfs rules: a 0/0 character device is a
//! whiteout, `trusted.overlay.opaque=y` hides lower layers of a directory, a
//! non-directory hides everything below it.

use std::collections::VecDeque;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// At most this many symlinks are followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// An entry of the merged view: the topmost layer's copy.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A directory, with its metadata.
    Dir(Metadata),
    /// A symbolic link and its target.
    Symlink(PathBuf),
    /// Any other file, with its host path.
    Other(Metadata, PathBuf),
}

/// A path resolved in the merged view, symlinks followed.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The components of the resolved path.
    pub comps: Vec<String>,
    /// How many leading components exist (all directories, except possibly
    /// the last one when `existing == comps.len()`).
    pub existing: usize,
    /// The entry at the full path, when it exists.
    pub last: Option<Entry>,
}

/// The layers of a root filesystem, top first.
#[derive(Debug, Clone)]
pub(crate) struct MergedView {
    layers: Vec<PathBuf>,
}

impl MergedView {
    pub(crate) fn new(layers: Vec<PathBuf>) -> Self {
        MergedView { layers }
    }

    /// The entry at `comps`, assuming every earlier component is a directory
    /// in the merged view.
    pub(crate) fn lookup(&self, comps: &[String]) -> io::Result<Option<Entry>> {
        let mut visible: Vec<PathBuf> = self.layers.clone();
        let mut found = None;
        for comp in comps {
            let mut next = Vec::new();
            found = None;
            for dir in &visible {
                let path = dir.join(comp);
                let md = match std::fs::symlink_metadata(&path) {
                    Ok(md) => md,
                    Err(e) if is_missing(&e) => continue,
                    Err(e) => return Err(e),
                };
                if md.file_type().is_char_device() && md.rdev() == 0 {
                    break; // whiteout
                }
                if md.is_dir() {
                    match found {
                        None => found = Some(Entry::Dir(md)),
                        Some(Entry::Dir(_)) => {}
                        Some(_) => break,
                    }
                    let opaque = is_opaque(&path);
                    next.push(path);
                    if opaque {
                        break;
                    }
                } else {
                    if found.is_none() {
                        found = Some(if md.file_type().is_symlink() {
                            Entry::Symlink(std::fs::read_link(&path)?)
                        } else {
                            Entry::Other(md, path)
                        });
                    }
                    break;
                }
            }
            match found {
                Some(Entry::Dir(_)) => visible = next,
                Some(_) | None => {
                    visible.clear();
                    if found.is_none() {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Resolves an absolute path given as clean components, following
    /// symlinks (absolute ones relative to the root, never above it).
    pub(crate) fn resolve(&self, comps: &[String]) -> io::Result<Resolved> {
        let mut todo: VecDeque<String> = comps.iter().cloned().collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        let mut last = None;
        while let Some(c) = todo.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            match self.lookup(&cur)? {
                None => {
                    let mut existing = cur.len() - 1;
                    for c in todo {
                        match c.as_str() {
                            "" | "." => {}
                            ".." => {
                                cur.pop();
                                existing = existing.min(cur.len());
                            }
                            _ => cur.push(c),
                        }
                    }
                    return Ok(Resolved {
                        comps: cur,
                        existing,
                        last: None,
                    });
                }
                Some(Entry::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    cur.pop();
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    for c in target.split('/').rev() {
                        todo.push_front(c.to_string());
                    }
                }
                Some(e @ Entry::Dir(_)) => last = Some(e),
                Some(e @ Entry::Other(..)) => {
                    if !todo.is_empty() {
                        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                    }
                    last = Some(e);
                }
            }
        }
        let existing = cur.len();
        if cur.is_empty() {
            last = std::fs::symlink_metadata(self.layers.first().map_or(Path::new("/"), |p| p))
                .ok()
                .map(Entry::Dir);
        }
        Ok(Resolved {
            comps: cur,
            existing,
            last,
        })
    }

    /// Reads a regular file of the merged view (symlinks followed).
    pub(crate) fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let comps: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let resolved = match self.resolve(&comps) {
            Ok(r) => r,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        match resolved.last {
            Some(Entry::Other(md, host)) if md.is_file() => std::fs::read(host).map(Some),
            _ => Ok(None),
        }
    }
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut buf),
        Ok(1) if buf[0] == b'y'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn comps(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn upper_layers_hide_lower_ones_and_symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let (top, bottom) = (t.path().join("top"), t.path().join("bottom"));
        fs::create_dir_all(bottom.join("etc")).unwrap();
        fs::write(bottom.join("etc/passwd"), "old").unwrap();
        fs::write(bottom.join("etc/group"), "g").unwrap();
        fs::create_dir_all(bottom.join("run")).unwrap();
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::write(top.join("etc/passwd"), "new").unwrap();
        fs::create_dir_all(top.join("var")).unwrap();
        std::os::unix::fs::symlink("../run", top.join("var/run")).unwrap();
        std::os::unix::fs::symlink("/etc", top.join("abs")).unwrap();
        let view = MergedView::new(vec![top, bottom]);
        assert_eq!(view.read("/etc/passwd").unwrap().unwrap(), b"new");
        assert_eq!(view.read("/etc/group").unwrap().unwrap(), b"g");
        assert_eq!(view.read("/abs/group").unwrap().unwrap(), b"g");
        assert!(view.read("/etc/shadow").unwrap().is_none());

        let r = view.resolve(&comps("/var/run/foo/bar")).unwrap();
        assert_eq!(r.comps, comps("/run/foo/bar"));
        assert_eq!(r.existing, 1);
        let r = view.resolve(&comps("/etc/group")).unwrap();
        assert_eq!(r.existing, 2);
        assert!(matches!(r.last, Some(Entry::Other(..))));
        assert!(view.resolve(&comps("/etc/group/x")).is_err());
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_entries() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("note: needs root for whiteouts and trusted xattrs");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (top, bottom) = (t.path().join("top"), t.path().join("bottom"));
        fs::create_dir_all(bottom.join("etc")).unwrap();
        fs::write(bottom.join("etc/gone"), "x").unwrap();
        fs::create_dir_all(bottom.join("opaque")).unwrap();
        fs::write(bottom.join("opaque/hidden"), "x").unwrap();
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::create_dir_all(top.join("opaque")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            top.join("etc/gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            top.join("opaque"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let view = MergedView::new(vec![top, bottom.clone()]);
        assert!(view.lookup(&comps("/etc/gone")).unwrap().is_none());
        assert!(view.lookup(&comps("/opaque/hidden")).unwrap().is_none());
        assert!(matches!(
            view.lookup(&comps("/opaque")).unwrap(),
            Some(Entry::Dir(_))
        ));
        let only_bottom = MergedView::new(vec![bottom]);
        assert!(
            only_bottom
                .lookup(&comps("/opaque/hidden"))
                .unwrap()
                .is_some()
        );
    }
}
