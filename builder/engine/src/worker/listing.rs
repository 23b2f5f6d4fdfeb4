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
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::PathBuf;
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

/// The writes of one COPY (see the module docs).
pub(super) struct Writes {
    root: Option<usize>,
    jobs: Vec<FileJob>,
    listing: Option<Listing>,
}

impl Writes {
    /// Writes that copy everything, or that list what they can (`list`).
    pub(super) fn new(list: bool) -> Writes {
        Writes {
            root: None,
            jobs: Vec::new(),
            listing: list.then(Listing::default),
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

    /// A regular file: written with the others of its root.
    pub(super) fn file(&mut self, job: FileJob) {
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
            return jobs.par_iter().try_for_each(copy);
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
