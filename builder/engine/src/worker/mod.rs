//! The real [`Ops`]: steps performed on the host, with the store for
//! blobs, snapshots for extracted layers, overlay mounts for COPY and
//! WORKDIR, and an [`Executor`] for RUN.
//!
//! Every step writes into a fresh overlay upper directory over the
//! parent's snapshots; the upper directory becomes the step's layer blob
//! and, renamed into place, its snapshot, so a later step never extracts
//! what an earlier one made.

mod cache_mounts;
mod context_base;
mod copy;
mod decompress;
mod error;
mod fetch;
mod git;
mod git_source;
mod listing;
mod mount_share;
mod remote;
mod run;
mod sources;
mod ssh;
mod verify;
mod view;

pub use cache_mounts::CacheMounts;
pub use copy::looks_like_tar;
pub use error::WorkerError;
pub use fetch::FetchError;
pub use git::GitError;
pub use mount_share::{pack_cache_mounts, plan_cache_mounts, restore_cache_mounts};
pub use remote::{
    DOWNLOADED_FILE, RemoteContext, RemoteError, RemoteKind, RemoteOptions, fetch_context,
};
pub use sources::NamedContext;

use crate::image::BaseImages;
use crate::ops::{OpError, Ops, PreparedRun, SourceDigest, Stages};
use crate::snapshots::Snapshots;
use crate::state::{LayerRef, State};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_context::{BuildContext, ContentHasher, Selection, StatCache};
use strata_exec::{CancelToken, Executor};
use strata_layer::WriteOptions;
use strata_plan::{CopyStep, IgnoreRule, ImageSource};
use strata_store::{Digest, Lease, Store};

/// How a worker behaves.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// Layer compression and `SOURCE_DATE_EPOCH`.
    pub layer: WriteOptions,
    /// Secrets by id (`--secret`), for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// Named build contexts (`--build-context NAME=…`).
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// SSH agent sockets by id (`--ssh ID=SOCKET`), for
    /// `RUN --mount=type=ssh`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// `--allow security.insecure`: permits `RUN --security=insecure`.
    pub allow_insecure: bool,
    /// `--snapshotter`.
    pub snapshotter: Snapshotter,
    /// Caches imported with `--cache-from`: a layer blob the store lacks
    /// is fetched from them before it is extracted.
    pub imported: Option<std::sync::Arc<dyn strata_cache::ImportedCache>>,
    /// The main context is a temporary directory (fetched from a URL, or
    /// unpacked from stdin): its stat cache is kept in memory only, since
    /// the next build's directory is another one.
    pub temporary_context: bool,
}

/// How steps get a writable root over their parent's layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Snapshotter {
    /// overlayfs when the store's file system can hold its upper
    /// directories (probed when the worker starts), else `Copy`.
    #[default]
    Auto,
    /// overlayfs over the parent's snapshots; the upper dir is the change.
    Overlay,
    /// A copy of the parent's whole root filesystem, compared with what it
    /// held before the step (slower; for file systems without overlayfs).
    Copy,
}

/// Performs steps for the solver.
pub struct Worker {
    /// Whether steps use the copying snapshotter.
    copy_snapshots: bool,
    /// The store's `builds` lock, shared while this worker lives.
    _builds: strata_store::StoreLock,
    store: Store,
    snapshots: Snapshots,
    context: BuildContext,
    hasher: Mutex<ContentHasher>,
    executor: Box<dyn Executor>,
    cache_mounts: CacheMounts,
    layer_opts: WriteOptions,
    opts: WorkerOptions,
    cancel: CancelToken,
    images: std::sync::Arc<BaseImages>,
    fetcher: fetch::Fetcher,
    git: git::Git,
    /// What this build uses, so a concurrent prune leaves it.
    lease: Lease,
    /// Bytes of layer blobs this worker added to the store.
    bytes_written: AtomicU64,
    /// The cache records, to skip per-file manifests already stored.
    records: strata_cache::RecordStore,
    /// Selections of the main context made for keys, for the steps that
    /// then run (see `Worker::select_for_key`).
    kept_selections: Mutex<Vec<(sources::SelectionRequest, std::sync::Arc<Selection>)>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("store", &self.store.root())
            .field("context", &self.context.root())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for one build: the store, the main context directory with
    /// its `.dockerignore` rules, and the executor for RUN.
    pub fn new(
        store: Store,
        images: std::sync::Arc<BaseImages>,
        context: PathBuf,
        ignore_rules: &[IgnoreRule],
        executor: Box<dyn Executor>,
        opts: WorkerOptions,
    ) -> Result<Worker, WorkerError> {
        let snapshots = Snapshots::open(store.root().join("snapshots-v1"))?;
        let builds = claim_scratch(&store, &snapshots, executor.as_ref())?;
        let copy_snapshots = match opts.snapshotter {
            Snapshotter::Overlay => false,
            Snapshotter::Copy => true,
            Snapshotter::Auto => !crate::overlay::supported_in(snapshots.dir()),
        };
        let context_abs = std::path::absolute(&context).map_err(error::io_err(&context))?;
        let stat_dir = sources::stat_cache_dir(store.root(), &context_abs);
        // Read only when a selection is not answered by the memo.
        let stat_cache = if opts.temporary_context {
            StatCache::in_memory()
        } else {
            StatCache::open_lazy(stat_dir)
        };
        let hasher = ContentHasher::new(stat_cache);
        let cache_mounts = CacheMounts::open(store.root().join("cache-mounts-v1"))?;
        let store_lease = store.lease()?;
        let records = strata_cache::RecordStore::open(store.root().join("cache-v1"))
            .map_err(|e| WorkerError::Invalid(format!("opening the cache records: {e}")))?;
        let git = git::Git::new(opts.ssh.get("default").cloned());
        Ok(Worker {
            _builds: builds,
            copy_snapshots,
            context: BuildContext::new(context_abs, ignore_rules)?,
            snapshots,
            hasher: Mutex::new(hasher),
            executor,
            cache_mounts,
            layer_opts: opts.layer,
            opts,
            store,
            cancel: CancelToken::new(),
            images,
            fetcher: fetch::Fetcher::new(),
            git,
            lease: store_lease,
            bytes_written: AtomicU64::new(0),
            records,
            kept_selections: Mutex::new(Vec::new()),
        })
    }

    /// The cache-mount directories (`RUN --mount=type=cache`).
    pub fn cache_mounts(&self) -> &CacheMounts {
        &self.cache_mounts
    }

    /// The snapshotter steps use (`Auto` resolved).
    pub fn snapshotter(&self) -> Snapshotter {
        if self.copy_snapshots {
            Snapshotter::Copy
        } else {
            Snapshotter::Overlay
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The token that cancels running steps (fire it on SIGINT/SIGTERM).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Saves what the build learned about the context (the stat cache).
    pub fn save(&self) -> Result<(), WorkerError> {
        if let Ok(mut hasher) = self.hasher.lock() {
            hasher.save()?;
        }
        Ok(())
    }

    /// Bytes of context files read (hashed) so far, and files hashed.
    pub fn hash_stats(&self) -> (u64, u64) {
        self.hasher
            .lock()
            .map(|h| (h.bytes_read(), h.files_read()))
            .unwrap_or_default()
    }

    /// Bytes of layer blobs this worker wrote into the store (blobs it
    /// made that the store did not have).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// The lease that keeps what this worker uses safe from a prune.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Claims layers for the rest of the build (see [`Lease::hold`]);
    /// false when a blob is no longer in the store.
    pub(crate) fn hold_layers(&self, layers: &[LayerRef]) -> Result<bool, WorkerError> {
        let mut blobs = Vec::with_capacity(layers.len());
        for l in layers {
            let digest: Digest = l
                .blob
                .digest
                .parse()
                .map_err(|e| WorkerError::Invalid(format!("layer {}: {e}", l.blob.digest)))?;
            blobs.push(digest);
        }
        let snapshots: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        Ok(self.lease.hold(&blobs, &snapshots)?)
    }

    fn base_image(&self, reference: &str) -> Result<State, WorkerError> {
        let image = self.images.get(reference)?;
        self.hold_layers(&image.layers)?;
        Ok(State::from_image(image.config, image.layers))
    }
}

/// Takes the store's `builds` lock shared, for the life of a worker. A
/// build that finds no other running (it gets the lock exclusively first)
/// removes the scratch directories that killed builds left: snapshot temp
/// dirs and the executor's scratch dirs (with a runtime's stale
/// containers). A concurrent build's directories are never touched.
fn claim_scratch(
    store: &Store,
    snapshots: &Snapshots,
    executor: &dyn Executor,
) -> Result<strata_store::StoreLock, WorkerError> {
    if let Some(alone) = store.try_lock_exclusive("builds")? {
        snapshots.remove_temp_dirs()?;
        executor.remove_stale()?;
        drop(alone);
    }
    Ok(store.lock_shared("builds")?)
}

fn boxed(e: WorkerError) -> OpError {
    Box::new(e)
}

impl Ops for Worker {
    fn base(&self, source: &ImageSource) -> Result<State, OpError> {
        match source {
            ImageSource::Image(reference) => self.base_image(reference).map_err(boxed),
            ImageSource::NamedContext(name) => self.named_base(name).map_err(boxed),
            ImageSource::Scratch | ImageSource::Stage(_) => Err(boxed(WorkerError::Invalid(
                "scratch and stage bases are resolved by the solver".into(),
            ))),
        }
    }

    fn copy_inputs(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<SourceDigest, OpError> {
        self.copy_digest(parent, copy, stages).map_err(boxed)
    }

    fn copy(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<Option<LayerRef>, OpError> {
        self.do_copy(parent, copy, stages, true).map_err(boxed)
    }

    fn copy_unread(
        &self,
        parent: &State,
        copy: &CopyStep,
        stages: &Stages,
    ) -> Result<Option<LayerRef>, OpError> {
        // The copying snapshotter diffs a copied root: it needs the bytes.
        let keep = self.copy_snapshots;
        self.do_copy(parent, copy, stages, keep).map_err(boxed)
    }

    fn mkdir(&self, parent: &State, dir: &str) -> Result<Option<LayerRef>, OpError> {
        self.do_mkdir(parent, dir).map_err(boxed)
    }

    fn mount_inputs(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
    ) -> Result<BTreeMap<String, String>, OpError> {
        self.bind_digests(parent, run, stages).map_err(boxed)
    }

    fn run(
        &self,
        parent: &State,
        run: &PreparedRun,
        stages: &Stages,
        output: &mut dyn FnMut(&str),
    ) -> Result<Option<LayerRef>, OpError> {
        self.do_run(parent, run, stages, output).map_err(boxed)
    }

    fn hold(&self, layer: &LayerRef) -> Result<bool, OpError> {
        self.hold_layers(std::slice::from_ref(layer)).map_err(boxed)
    }
}
