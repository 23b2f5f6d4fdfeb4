//! COPY, ADD and WORKDIR: files written into an overlay over the parent.

use super::Worker;
use super::error::{WorkerError, io_err};
use super::git_source::GitSource;
use super::listing::{FileJob, Writes, has_hard_links, inode_key};
use super::sources::Source;
use crate::copy_dest::{Matched, absolute_dest, join, targets};
use crate::ops::{SourceDigest, Stages};
use crate::state::{LayerRef, State};
use crate::users::resolve_chown;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use strata_context::{DigestOptions, EntryKind};
use strata_layer::ExtraFiles;
use strata_layer::rootfs::{EntryMeta, RootFs};
use strata_layer::{ExtractMode, detect_reader, extract_owned};
use strata_plan::{Chmod, CopyStep, SourceKind};

/// Parent directories a COPY creates: 0755, root unless `--chown`.
fn dir_meta(owner: Option<(u32, u32)>, mtime: i64) -> EntryMeta {
    let (uid, gid) = owner.unwrap_or((0, 0));
    EntryMeta {
        mode: 0o755,
        uid,
        gid,
        mtime: (mtime, 0),
    }
}

/// A COPY/ADD's sources split into files to select from the source tree,
/// URLs to fetch and a git repository (ADD only), each in the order written.
struct Sources<'a> {
    local: Vec<String>,
    urls: Vec<&'a str>,
    git: Option<GitSource>,
}

/// Splits the sources, refusing what this version cannot do (naming it).
fn split_sources(copy: &CopyStep) -> Result<Sources<'_>, WorkerError> {
    let mut sources = Sources {
        local: Vec::new(),
        urls: Vec::new(),
        git: None,
    };
    for source in &copy.sources.paths {
        match SourceKind::of(source) {
            SourceKind::Git if copy.add => {
                if copy.sources.paths.len() + copy.sources.heredocs.len() > 1 {
                    return Err(WorkerError::Unsupported(format!(
                        "ADD of a git repository ({source}) together with other sources"
                    )));
                }
                sources.git = Some(GitSource::parse(source)?);
            }
            SourceKind::Url | SourceKind::Git if !copy.add => {
                return Err(WorkerError::Invalid(format!(
                    "source can't be a URL for COPY ({source}); use ADD"
                )));
            }
            SourceKind::Url => sources.urls.push(source),
            _ => sources.local.push(source.clone()),
        }
    }
    Ok(sources)
}

/// Where `path` leads when its last component is a symlink (a chain of
/// them followed inside the root, relative targets from the directory the
/// link is in after its own parents' symlinks); `path` itself otherwise.
fn through_symlinks(
    root: &RootFs,
    path: &str,
    parent_meta: &EntryMeta,
) -> Result<String, WorkerError> {
    let mut path = path.to_string();
    // Linux's limit of links followed in one lookup.
    for _ in 0..40 {
        if root.lstat_type(&path)? != Some(rustix::fs::FileType::Symlink) {
            return Ok(path);
        }
        let at = root.locate_new_file(&path, parent_meta)?;
        let target = root.read_link(&path)?;
        path = if target.starts_with('/') {
            strata_plan::clean_path(&target)
        } else {
            strata_plan::clean_path(&format!("/{}/{target}", at.dir))
        };
    }
    Err(WorkerError::Invalid(format!(
        "too many levels of symbolic links at the destination {path}"
    )))
}

/// Feeds a length-prefixed field to a digest.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The image's `/etc/passwd` and `/etc/group` resolve a `--chown`.
fn chown_ids(root: &RootFs, spec: &str) -> Result<(u32, u32), WorkerError> {
    let read = |p: &str| -> Result<String, WorkerError> {
        Ok(root
            .read(p)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default())
    };
    resolve_chown(spec, &read("/etc/passwd")?, &read("/etc/group")?)
        .map_err(|e| WorkerError::Invalid(e.to_string()))
}

/// What an archive's first bytes say it is.
enum Archive {
    /// A tar stream, possibly compressed (gzip, bzip2, xz, zstd).
    Tar,
    /// Not an archive: copied as a file.
    No,
}

pub(crate) fn tar_header_ok(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|b| *b == 0) {
        return false;
    }
    if &block[257..262] == b"ustar" {
        return true;
    }
    // A pre-POSIX tar: only the checksum can tell.
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(stored) = u64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == stored
}

fn classify(path: &Path) -> Result<Archive, WorkerError> {
    let reader = super::decompress::open(path).map_err(io_err(path))?;
    Ok(if looks_like_tar(reader) {
        Archive::Tar
    } else {
        Archive::No
    })
}

/// True when `reader` starts with a tar header (after gzip or zstd
/// decompression, if compressed): `ustar` magic, or a pre-POSIX header
/// whose checksum holds.
pub fn looks_like_tar(reader: impl Read) -> bool {
    let Ok(mut reader) = detect_reader(reader) else {
        return false;
    };
    let mut block = vec![0u8; 512];
    let mut got = 0;
    while got < 512 {
        match reader.read(&mut block[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    got == 512 && tar_header_ok(&block)
}

impl Worker {
    /// The digest of everything a COPY/ADD reads.
    pub(crate) fn copy_digest(
        &self,
        _parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<SourceDigest, WorkerError> {
        let sources = split_sources(copy)?;
        let mut h = Sha256::new();
        h.update(b"strata-copy-sources-v1\0");
        for doc in &copy.sources.heredocs {
            for part in [&doc.name, &doc.content] {
                field(&mut h, part.as_bytes());
            }
        }
        let mut files: Option<std::collections::BTreeMap<String, String>> = None;
        let mut local = None;
        if let Some(git) = &sources.git {
            let checksum = git.checksum_with(copy.checksum.as_deref())?;
            let commit = self.git.resolve(git, checksum.as_deref())?;
            let content = format!("git {} {commit}", git.url);
            field(&mut h, content.as_bytes());
            let entry = hex::encode(Sha256::digest(content.as_bytes()));
            files = Some([(copy.sources.paths.join(" "), entry)].into());
        }
        if !sources.local.is_empty() {
            let source = self.source(&copy.from, stages)?;
            let selection =
                self.select_for_key(&source, &sources.local, &copy.exclude, copy.parents)?;
            let options = DigestOptions {
                include_mode: copy.chmod.is_none(),
                include_owner: !source.local && copy.chown.is_none(),
            };
            let digest = self.digest_selection(&source, &selection, options)?;
            h.update(digest.digest.0);
            local = Some((source, selection, options, digest.manifest));
        }
        for url in &sources.urls {
            field(&mut h, url.as_bytes());
            // With --checksum the content is known without fetching it.
            let content = match &copy.checksum {
                Some(sum) => format!("checksum {sum}"),
                None => {
                    let download = self.fetcher.get(&self.store, url, None)?;
                    // Last-Modified reaches the image as the file's mtime.
                    let mtime = download.mtime.map(|t| t.to_string()).unwrap_or_default();
                    format!("{} {mtime}", download.digest)
                }
            };
            field(&mut h, content.as_bytes());
            let entry = hex::encode(Sha256::digest(content.as_bytes()));
            files
                .get_or_insert_default()
                .insert((*url).to_string(), entry);
        }
        let digest = format!("sha256:{}", hex::encode(h.finalize()));
        // The per-file manifest (for --explain) is written once per digest:
        // a rebuild of unchanged sources does not make it again.
        if let Some((source, selection, options, manifest)) = local
            && !self.records.has_manifest(&digest)
        {
            let manifest = match manifest {
                Some(m) => m,
                None => self.selection_manifest(&source, &selection, options)?,
            };
            let map = files.get_or_insert_default();
            map.extend(manifest.iter().map(|(path, d)| (path.clone(), d.hex())));
        }
        Ok(SourceDigest { digest, files })
    }

    /// Performs a COPY/ADD into a new layer. With `keep_snapshot` false,
    /// the files of a local directory are not copied into the overlay: the
    /// layer reads them from where they are, and no snapshot is kept (a
    /// later build extracts one when it needs it).
    pub(crate) fn do_copy(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
        keep_snapshot: bool,
    ) -> Result<Option<LayerRef>, WorkerError> {
        let sources = split_sources(copy)?;
        let chmod = copy
            .chmod
            .as_deref()
            .map(Chmod::parse)
            .transpose()
            .map_err(|e| WorkerError::Invalid(e.to_string()))?;
        let view = self.view(&parent.layers)?;
        let root = view.root();
        let owner = match &copy.chown {
            Some(spec) => Some(chown_ids(root, spec)?),
            None => None,
        };
        let created = self.layer_opts.source_date_epoch.unwrap_or(parent.time);
        let parent_meta = dir_meta(owner, created);
        let dest = absolute_dest(&copy.dest, parent.config.image.config.workdir());

        let checkout;
        let (source, selection) = if let Some(git) = &sources.git {
            let checksum = git.checksum_with(copy.checksum.as_deref())?;
            let commit = self.git.resolve(git, checksum.as_deref())?;
            let keep_git_dir = git.keep_git_dir_with(copy.keep_git_dir)?;
            checkout = self.git.checkout(&self.store, git, &commit, keep_git_dir)?;
            let source = Source::dir(checkout.path().to_path_buf())?;
            // The repository (or its subdirectory) is a directory source.
            let root = if git.subdir.is_empty() {
                "."
            } else {
                &git.subdir
            };
            let selection = self.select(&source, &[root.to_string()], &copy.exclude, false)?;
            (Some(source), std::sync::Arc::new(selection))
        } else if sources.local.is_empty() {
            (None, std::sync::Arc::default())
        } else {
            let source = self.source(&copy.from, stages)?;
            let selection =
                self.select_again(&source, &sources.local, &copy.exclude, copy.parents)?;
            (Some(source), selection)
        };
        let mut matches: Vec<Matched> = selection
            .roots
            .iter()
            .map(|r| Matched {
                path: r.path.clone(),
                is_dir: r.kind == EntryKind::Dir,
            })
            .collect();
        matches.extend(copy.sources.heredocs.iter().map(|d| Matched {
            path: d.name.clone(),
            is_dir: false,
        }));
        matches.extend(sources.urls.iter().map(|url| Matched {
            path: strata_plan::url_file_name(url),
            is_dir: false,
        }));
        let total = copy.sources.paths.len() + copy.sources.heredocs.len();
        let exists_dir = |p: &str| root.is_dir(p).unwrap_or(false);
        let mut dests = targets(&dest, &matches, total, copy.parents, &exists_dir)
            .map_err(|e| WorkerError::Invalid(e.to_string()))?;
        // A file copied to the destination itself (not into it) follows a
        // symlink there, as BuildKit resolves the destination with
        // `fs.RootPath`: the link stays and its target gets the file.
        // `--link` copies onto nothing in BuildKit, so its file replaces
        // the link when the layers are stacked.
        let named = dest.trim_end_matches('/');
        for (target, m) in dests.iter_mut().zip(&matches) {
            if !copy.link && !m.is_dir && target.as_str() == named {
                *target = through_symlinks(root, target, &parent_meta)?;
            }
        }

        let mut dirs: Vec<(String, (i64, u32))> = Vec::new();
        let mut extra = ExtraFiles::new();
        if let Some(source) = &source {
            let ctx_root = source.ctx.root();
            // Entries are listed rather than written only where nothing
            // else can write to the same places (one source root, no
            // heredoc, URL or archive) and the files stay where they are
            // until the layer is written (a local directory, not a stage's
            // or image's mounted tree).
            let list = !keep_snapshot
                && source.local
                && selection.roots.len() == 1
                && copy.sources.heredocs.is_empty()
                && sources.urls.is_empty()
                && sources.git.is_none()
                && !copy.add;
            let links = has_hard_links(&selection);
            let mut writes = Writes::new(list && !links);
            for (index, entry) in selection.entries.iter().enumerate() {
                let Some(target) = dests.get(entry.root) else {
                    continue;
                };
                writes.start_root(root, entry.root)?;
                let path = join(target, &entry.rel);
                let is_dir = entry.meta.kind == EntryKind::Dir;
                let (uid, gid) = owner.unwrap_or(if source.local {
                    (0, 0)
                } else {
                    (entry.meta.uid, entry.meta.gid)
                });
                let perm = entry.meta.mode & 0o7777;
                let mode = chmod.as_ref().map_or(perm, |c| c.apply(perm, is_dir));
                let mtime = (
                    entry.meta.mtime_ns.div_euclid(1_000_000_000),
                    entry.meta.mtime_ns.rem_euclid(1_000_000_000) as u32,
                );
                let meta = EntryMeta {
                    mode,
                    uid,
                    gid,
                    mtime,
                };
                let host = ctx_root.join(&entry.path);
                match entry.meta.kind {
                    EntryKind::Dir if entry.rel.is_empty() => {
                        // The content of a directory source goes into the
                        // destination; an existing destination keeps its
                        // metadata.
                        if !root.is_dir(&path)? {
                            root.mkdir_all(&path, &meta)?;
                            dirs.push((path, mtime));
                        }
                    }
                    EntryKind::Dir => {
                        if writes.dir(root, &path, &meta, &parent_meta)? {
                            dirs.push((path, mtime));
                        }
                    }
                    EntryKind::File => {
                        let unpack = copy.add && copy.unpack != Some(false) && entry.rel.is_empty();
                        if !(unpack
                            && self.unpack_archive(root, &host, &dest, &parent_meta, owner)?)
                        {
                            let inode = if links {
                                inode_key(&selection, index)
                            } else {
                                None
                            };
                            writes.file(
                                FileJob {
                                    host,
                                    path,
                                    meta,
                                    parent_meta,
                                },
                                inode,
                            );
                        }
                    }
                    EntryKind::Symlink => {
                        let target = entry
                            .link_target
                            .as_ref()
                            .map(|t| t.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        writes.symlink(root, &path, &target, &meta, &parent_meta)?;
                    }
                    EntryKind::Other => {
                        return Err(WorkerError::Unsupported(format!(
                            "copying the special file {} (a device, fifo or socket)",
                            entry.path
                        )));
                    }
                }
            }
            extra = writes.finish(root)?;
        }
        let first_doc = selection.roots.len();
        for (i, doc) in copy.sources.heredocs.iter().enumerate() {
            let Some(path) = dests.get(first_doc + i) else {
                continue;
            };
            let mode = chmod.as_ref().map_or(0o644, |c| c.apply(0o644, false));
            let (uid, gid) = owner.unwrap_or((0, 0));
            let meta = EntryMeta {
                mode,
                uid,
                gid,
                mtime: (created, 0),
            };
            root.write_file(path, &mut doc.content.as_bytes(), &meta, &parent_meta)?;
        }
        let first_url = first_doc + copy.sources.heredocs.len();
        for (i, url) in sources.urls.iter().enumerate() {
            let Some(path) = dests.get(first_url + i) else {
                continue;
            };
            let download = self
                .fetcher
                .get(&self.store, url, copy.checksum.as_deref())?;
            let host = download.file.path();
            // A fetched archive is a file unless --unpack=true (BuildKit).
            let unpack = copy.unpack == Some(true);
            if unpack && self.unpack_archive(root, host, &dest, &parent_meta, owner)? {
                continue;
            }
            let mode = chmod.as_ref().map_or(0o600, |c| c.apply(0o600, false));
            let (uid, gid) = owner.unwrap_or((0, 0));
            let meta = EntryMeta {
                mode,
                uid,
                gid,
                // Without Last-Modified BuildKit's HTTP source dates the
                // file at the epoch.
                mtime: (download.mtime.unwrap_or(0), 0),
            };
            let mut f = File::open(host).map_err(io_err(host))?;
            root.write_file(path, &mut f, &meta, &parent_meta)?;
        }
        // Directory times last: writing their content changed them.
        for (dir, mtime) in dirs.iter().rev() {
            root.set_mtime(dir, *mtime)?;
        }
        drop(source);
        let (upper, _guard) = view.finish()?;
        // Existing directories this step wrote into were copied up and
        // got the wall clock: they take the step's time instead.
        let explicit: std::collections::BTreeSet<&str> =
            dirs.iter().map(|(d, _)| d.trim_matches('/')).collect();
        set_times(&upper, &upper, created, &|rel, is_dir| {
            is_dir && !explicit.contains(rel)
        })
        .map_err(io_err(&upper))?;
        self.commit_upper_with(&upper, &extra)
    }

    /// ADD of a file that may be an archive: a tar (plain or compressed)
    /// is extracted into the destination directory and true returned; any
    /// other file gives false, to be copied as it is.
    /// `owner` (`--chown`) replaces the archive's ownership, as in BuildKit.
    fn unpack_archive(
        &self,
        root: &RootFs,
        file: &Path,
        dest: &str,
        parent_meta: &EntryMeta,
        owner: Option<(u32, u32)>,
    ) -> Result<bool, WorkerError> {
        match classify(file)? {
            Archive::Tar => {
                let dir = dest.trim_end_matches('/');
                let dir = if dir.is_empty() { "/" } else { dir };
                self.unpack(root, file, dir, parent_meta, owner)?;
                Ok(true)
            }
            Archive::No => Ok(false),
        }
    }

    /// Extracts a local archive (ADD) into `dir` inside the root.
    fn unpack(
        &self,
        root: &RootFs,
        archive: &Path,
        dir: &str,
        parent_meta: &EntryMeta,
        owner: Option<(u32, u32)>,
    ) -> Result<(), WorkerError> {
        let fd = root.mkdir_all(dir, parent_meta)?;
        // The directory's fd pins it: nothing can swap in a symlink now.
        let target = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let reader = super::decompress::open(archive).map_err(io_err(archive))?;
        extract_owned(
            BufReader::new(reader),
            Path::new(&target),
            ExtractMode::Apply,
            None,
            owner,
        )?;
        Ok(())
    }

    /// WORKDIR: creates the directory (owned by the user in effect, as
    /// BuildKit does) when it is missing.
    pub(crate) fn do_mkdir(
        &self,
        parent: &State,
        dir: &str,
    ) -> Result<Option<LayerRef>, WorkerError> {
        let view = self.view(&parent.layers)?;
        if !view.root().is_dir(dir)? {
            // The directory belongs to the USER in effect, resolved as
            // BuildKit's mkdir resolves it (a numeric user is also the
            // gid), not as a RUN's user.
            let user = parent.config.image.config.user.clone().unwrap_or_default();
            let (uid, gid) = if user.is_empty() {
                (0, 0)
            } else {
                chown_ids(view.root(), &user)?
            };
            let created = self.layer_opts.source_date_epoch.unwrap_or(parent.time);
            let meta = EntryMeta {
                mode: 0o755,
                uid,
                gid,
                mtime: (created, 0),
            };
            view.root().mkdir_all(dir, &meta)?;
        }
        let (upper, _guard) = view.finish()?;
        // Parents that existed were copied up with the wall clock.
        let created = self.layer_opts.source_date_epoch.unwrap_or(parent.time);
        set_times(&upper, &upper, created, &|_, is_dir| is_dir).map_err(io_err(&upper))?;
        self.commit_upper_with(&upper, &ExtraFiles::new())
    }
}

/// Sets the mtime (and atime) of `top` and the entries below it that
/// `pick` chooses (given their path relative to `top`, `""` for `top`,
/// and whether they are directories), never following symlinks. `dir` is
/// where the walk is (`top` when called).
pub(super) fn set_times(
    top: &Path,
    dir: &Path,
    secs: i64,
    pick: &dyn Fn(&str, bool) -> bool,
) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let ts = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let is_dir = entry.file_type()?.is_dir();
        if is_dir {
            set_times(top, &path, secs, pick)?;
        }
        let rel = path.strip_prefix(top).unwrap_or(&path).to_string_lossy();
        if pick(&rel, is_dir) {
            utimensat(CWD, &path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        }
    }
    if dir == top && pick("", true) {
        utimensat(CWD, top, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}
