//! How a COPY writes the entries of its source into the overlay over its
//! parent: files of one source root together, on all cores (the kernel
//! copies the bytes); or, for a COPY whose result no later step of the
//! build reads, hardly at all: what does not exist yet below the
//! destination is only listed ([`ExtraFiles`]) and read once, into the
//! layer. Creating and later removing 20,000 inodes per build costs more
//! than the layer itself, and ext4 slows down when it must allocate inodes
//! right after freeing many.

use super::error::{WorkerError, io_err};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use strata_context::{EntryKind, Selection};
use strata_layer::rootfs::{EntryMeta, RootFs};
use strata_layer::{Extra, ExtraFiles, HostFile};

/// A file of the source to write into the root.
pub(super) struct FileJob {
    /// Where the content is.
    pub(super) host: PathBuf,
    /// The destination inside the root.
    pub(super) path: String,
    /// Its metadata.
    pub(super) meta: EntryMeta,
    /// Metadata of missing parents.
    pub(super) parent_meta: EntryMeta,
}

/// What is only listed: the entries, the directories added (by their
/// destination path, with where they are relative to the root), and the
/// directories of the root that hold listed entries.
#[derive(Default)]
struct Listing {
    extra: ExtraFiles,
    added: HashMap<String, String>,
    holders: BTreeSet<String>,
}

impl Listing {
    /// Where the parent of `path` is when it was added: then `path` is
    /// added too (nothing can be below an added directory yet).
    fn added_parent(&self, path: &str) -> Option<(String, String)> {
        let (parent, name) = path.trim_end_matches('/').rsplit_once('/')?;
        let at = self.added.get(parent)?;
        Some((at.clone(), name.to_string()))
    }

    fn add(&mut self, dir: String, name: String, extra: Extra) {
        self.extra.entry(dir).or_default().insert(name, extra);
    }
}

/// A file's inode within one source of a COPY: its source's index,
/// device and inode number. Files of one source that share an inode are
/// hard links to each other, and are copied as hard links (BuildKit's copy
/// keeps the hard links of each source).
pub(super) type InodeKey = (usize, u64, u64);

/// The inode of a selected entry, when it is a regular file.
pub(super) fn inode_key(selection: &Selection, index: usize) -> Option<InodeKey> {
    let entry = selection.entries.get(index)?;
    let root = selection.roots.get(entry.root)?;
    (entry.meta.kind == EntryKind::File).then_some((root.source, entry.meta.dev, entry.meta.ino))
}

/// Whether files of one source of `selection` are hard links to each
/// other. Such a COPY writes its files (a hard link needs its first path
/// in the root), instead of listing them.
pub(super) fn has_hard_links(selection: &Selection) -> bool {
    let mut seen = HashSet::new();
    (0..selection.entries.len())
        .filter_map(|i| inode_key(selection, i))
        .any(|key| !seen.insert(key))
}

/// The writes of one COPY (see the module docs).
pub(super) struct Writes {
    root: Option<usize>,
    jobs: Vec<FileJob>,
    listing: Option<Listing>,
    /// The first destination of each inode given with a file.
    inodes: HashMap<InodeKey, String>,
    /// Hard links to make once the files before them are written: the
    /// link, its target and the metadata of missing parents.
    links: Vec<(String, String, EntryMeta)>,
}

impl Writes {
    /// Writes that copy everything, or that list what they can (`list`).
    pub(super) fn new(list: bool) -> Writes {
        Writes {
            root: None,
            jobs: Vec::new(),
            listing: list.then(Listing::default),
            inodes: HashMap::new(),
            links: Vec::new(),
        }
    }

    /// Starts the entries of source root `index`: the files of the one
    /// before are written first (roots may overlap, and a later one
    /// replaces what an earlier one wrote).
    pub(super) fn start_root(&mut self, fs: &RootFs, index: usize) -> Result<(), WorkerError> {
        if self.root != Some(index) {
            self.flush(fs)?;
            self.root = Some(index);
        }
        Ok(())
    }

    /// A directory below the destination; true when it was made in the
    /// root (its time is set once its content is written).
    pub(super) fn dir(
        &mut self,
        fs: &RootFs,
        path: &str,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
    ) -> Result<bool, WorkerError> {
        if let Some(listing) = &mut self.listing {
            let (at, name) = match listing.added_parent(path) {
                Some(found) => found,
                None => {
                    let at = fs.locate_new_file(path, parent_meta)?;
                    if at.existing.is_some() {
                        fs.create_dir(path, meta, parent_meta)?;
                        return Ok(true);
                    }
                    listing.holders.insert(at.dir.clone());
                    (at.dir, at.name)
                }
            };
            let place = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}/{name}")
            };
            listing
                .added
                .insert(path.trim_end_matches('/').to_string(), place);
            listing.add(
                at,
                name,
                Extra::Dir {
                    mode: meta.mode,
                    uid: meta.uid,
                    gid: meta.gid,
                    mtime: meta.mtime.0,
                },
            );
            return Ok(false);
        }
        fs.create_dir(path, meta, parent_meta)?;
        Ok(true)
    }

    /// A regular file: written with the others of its root, or, when an
    /// earlier file had the same `inode`, made a hard link to it (only
    /// when writing, not listing: see [`has_hard_links`]).
    pub(super) fn file(&mut self, job: FileJob, inode: Option<InodeKey>) {
        if self.listing.is_none()
            && let Some(key) = inode
        {
            if let Some(first) = self.inodes.get(&key) {
                self.links.push((job.path, first.clone(), job.parent_meta));
                return;
            }
            self.inodes.insert(key, job.path.clone());
        }
        if let Some(listing) = &mut self.listing
            && let Some((at, name)) = listing.added_parent(&job.path)
        {
            listing.add(at, name, Extra::File(host_file(job)));
            return;
        }
        self.jobs.push(job);
    }

    /// A symbolic link.
    pub(super) fn symlink(
        &mut self,
        fs: &RootFs,
        path: &str,
        target: &str,
        meta: &EntryMeta,
        parent_meta: &EntryMeta,
    ) -> Result<(), WorkerError> {
        if let Some(listing) = &mut self.listing
            && let Some((at, name)) = listing.added_parent(path)
        {
            let link = Extra::Symlink {
                target: target.to_string(),
                uid: meta.uid,
                gid: meta.gid,
                mtime: meta.mtime.0,
            };
            listing.add(at, name, link);
            return Ok(());
        }
        Ok(fs.symlink(path, target, meta, parent_meta)?)
    }

    /// Writes the files gathered so far, on all cores: copies (the kernel
    /// moves the bytes), or, when listing, lists those that are new.
    fn flush(&mut self, fs: &RootFs) -> Result<(), WorkerError> {
        let jobs = std::mem::take(&mut self.jobs);
        let copy = |job: &FileJob| -> Result<(), WorkerError> {
            let f = File::open(&job.host).map_err(io_err(&job.host))?;
            fs.copy_file(&job.path, &f, &job.meta, &job.parent_meta)?;
            Ok(())
        };
        let Some(listing) = &mut self.listing else {
            jobs.par_iter().try_for_each(copy)?;
            for (path, target, parent_meta) in std::mem::take(&mut self.links) {
                fs.hardlink(&path, &target, &parent_meta)?;
            }
            return Ok(());
        };
        let located = jobs
            .into_par_iter()
            .map(|job| -> Result<Option<_>, WorkerError> {
                let at = fs.locate_new_file(&job.path, &job.parent_meta)?;
                if at.existing.is_some() {
                    // Something of the parent is there: replace it for real.
                    copy(&job)?;
                    return Ok(None);
                }
                Ok(Some((at.dir, at.name, host_file(job))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (dir, name, file) in located.into_iter().flatten() {
            listing.holders.insert(dir.clone());
            listing.add(dir, name, Extra::File(file));
        }
        Ok(())
    }

    /// Writes what is left and returns what was only listed. A directory
    /// of the root that holds listed entries is copied up into the upper
    /// directory, as creating an entry in it would have done.
    pub(super) fn finish(mut self, fs: &RootFs) -> Result<ExtraFiles, WorkerError> {
        self.flush(fs)?;
        let Some(listing) = self.listing else {
            return Ok(ExtraFiles::new());
        };
        listing
            .holders
            .par_iter()
            .try_for_each(|dir| fs.copy_up_dir(dir).map_err(WorkerError::from))?;
        Ok(listing.extra)
    }
}

fn host_file(job: FileJob) -> HostFile {
    HostFile {
        path: job.host,
        mode: job.meta.mode,
        uid: job.meta.uid,
        gid: job.meta.gid,
        mtime: job.meta.mtime.0,
    }
}
