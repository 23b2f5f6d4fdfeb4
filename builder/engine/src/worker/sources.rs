//! Where COPY, ADD and bind mounts read from: the main context, named
//! contexts, other stages and images, each seen as a directory with its
//! selection rules.

use super::Worker;
use super::error::WorkerError;
use super::view::View;
use crate::ops::Stages;
use crate::state::{LayerRef, State};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_context::{
    BuildContext, ContentHasher, CopyRequest, DigestOptions, Manifest, MemoDigest, Selection,
    StatCache,
};
use strata_plan::{CopySource, IgnoreRule};

/// A named build context (`--build-context NAME=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory, with its own `.dockerignore` rules.
    Dir {
        /// The directory.
        path: PathBuf,
        /// Its ignore rules.
        ignore: Vec<IgnoreRule>,
    },
    /// An image in the store (`docker-image://REF`, or an imported
    /// `oci-layout://` image).
    Image(String),
}

/// A source tree opened for one step.
pub(crate) struct Source {
    /// The tree and its rules.
    pub(crate) ctx: BuildContext,
    /// Files from a local directory are owned by root in the image; files
    /// from a stage or image keep their owners.
    pub(crate) local: bool,
    /// The main context, whose stat cache is kept between builds.
    main: bool,
    /// Keeps a stage's or image's overlay mounted.
    _view: Option<View>,
}

impl Source {
    /// A directory on the host (a git checkout), read like a local context
    /// without ignore rules: its files are owned by root in the image.
    pub(crate) fn dir(path: PathBuf) -> Result<Source, WorkerError> {
        Ok(Source {
            ctx: BuildContext::new(path, &[])?,
            local: true,
            main: false,
            _view: None,
        })
    }
}

/// Where the stat cache of a context directory lives in the store.
pub(crate) fn stat_cache_dir(store_root: &Path, context: &Path) -> PathBuf {
    let hash = Sha256::digest(context.as_os_str().as_encoded_bytes());
    store_root
        .join("statcache-v1")
        .join(hex::encode(&hash[..16]))
}

impl Worker {
    /// Opens the tree a COPY or bind mount reads from.
    pub(crate) fn source(&self, from: &CopySource, stages: &Stages) -> Result<Source, WorkerError> {
        match from {
            CopySource::Context => Ok(Source {
                ctx: self.context.clone(),
                local: true,
                main: true,
                _view: None,
            }),
            CopySource::NamedContext(name) => match self.opts.named_contexts.get(name) {
                Some(NamedContext::Dir { path, ignore }) => Ok(Source {
                    ctx: BuildContext::new(path.clone(), ignore)?,
                    local: true,
                    main: false,
                    _view: None,
                }),
                Some(NamedContext::Image(reference)) => {
                    let state = self.base_image(reference)?;
                    self.tree(&state.layers)
                }
                None => Err(WorkerError::Invalid(format!(
                    "build context {name:?} was not given (--build-context {name}=…)"
                ))),
            },
            CopySource::Stage(id) => {
                let state = stages.get(id).ok_or_else(|| {
                    WorkerError::Invalid(format!("stage {} has not been built", id.0))
                })?;
                self.tree(&state.layers)
            }
            CopySource::Image(reference) => {
                let state = self.base_image(reference)?;
                self.tree(&state.layers)
            }
        }
    }

    fn tree(&self, layers: &[LayerRef]) -> Result<Source, WorkerError> {
        let view = self.view(layers)?;
        Ok(Source {
            ctx: BuildContext::new(view.path().to_path_buf(), &[])?,
            local: false,
            main: false,
            _view: Some(view),
        })
    }

    /// Selects files from a source for a step's key. A selection of the
    /// main context is also kept for the step's execution
    /// ([`Worker::select_again`]), so a COPY that misses the cache walks
    /// the context once, and the files it writes are those its key saw.
    pub(crate) fn select_for_key(
        &self,
        source: &Source,
        paths: &[String],
        exclude: &[String],
        parents: bool,
    ) -> Result<Arc<Selection>, WorkerError> {
        let selection = Arc::new(self.select(source, paths, exclude, parents)?);
        if source.main
            && let Ok(mut kept) = self.kept_selections.lock()
        {
            // The newest selection for a request replaces an older one.
            let request = SelectionRequest::new(paths, exclude, parents);
            kept.retain(|(r, _)| *r != request);
            if kept.len() >= KEPT_SELECTIONS {
                kept.remove(0);
            }
            kept.push((request, Arc::clone(&selection)));
        }
        Ok(selection)
    }

    /// The selection [`Worker::select_for_key`] kept for the same request
    /// of the main context, else a new one.
    pub(crate) fn select_again(
        &self,
        source: &Source,
        paths: &[String],
        exclude: &[String],
        parents: bool,
    ) -> Result<Arc<Selection>, WorkerError> {
        if source.main
            && let Ok(mut kept) = self.kept_selections.lock()
        {
            let request = SelectionRequest::new(paths, exclude, parents);
            if let Some(at) = kept.iter().position(|(r, _)| *r == request) {
                return Ok(kept.remove(at).1);
            }
        }
        Ok(Arc::new(self.select(source, paths, exclude, parents)?))
    }

    /// Selects files from a source.
    pub(crate) fn select(
        &self,
        source: &Source,
        paths: &[String],
        exclude: &[String],
        parents: bool,
    ) -> Result<Selection, WorkerError> {
        Ok(source.ctx.select(&CopyRequest {
            sources: paths,
            exclude,
            parents,
        })?)
    }

    /// Digests a selection: for the main context with its persistent stat
    /// cache and selection memo (a digest recalled from the memo comes
    /// without a manifest), else entry by entry.
    pub(crate) fn digest_selection(
        &self,
        source: &Source,
        selection: &Selection,
        options: DigestOptions,
    ) -> Result<MemoDigest, WorkerError> {
        if source.main
            && let Ok(mut hasher) = self.hasher.lock()
        {
            return Ok(hasher.digest_memoized(source.ctx.root(), selection, options)?);
        }
        let mut hasher = ContentHasher::new(StatCache::in_memory());
        let full = hasher.digest(source.ctx.root(), selection, options)?;
        Ok(MemoDigest {
            digest: full.digest,
            manifest: Some(full.manifest),
        })
    }

    /// The per-entry manifest of a selection, when
    /// [`Worker::digest_selection`] recalled its digest without one.
    pub(crate) fn selection_manifest(
        &self,
        source: &Source,
        selection: &Selection,
        options: DigestOptions,
    ) -> Result<Manifest, WorkerError> {
        if source.main
            && let Ok(mut hasher) = self.hasher.lock()
        {
            return Ok(hasher
                .digest(source.ctx.root(), selection, options)?
                .manifest);
        }
        let mut hasher = ContentHasher::new(StatCache::in_memory());
        Ok(hasher
            .digest(source.ctx.root(), selection, options)?
            .manifest)
    }

    /// A stage whose base is a named context.
    pub(crate) fn named_base(&self, name: &str) -> Result<State, WorkerError> {
        match self.opts.named_contexts.get(name) {
            Some(NamedContext::Image(reference)) => self.base_image(reference),
            Some(NamedContext::Dir { .. }) => self.directory_base(name),
            None => Err(WorkerError::Invalid(format!(
                "build context {name:?} was not given (--build-context {name}=…)"
            ))),
        }
    }
}

/// How many selections of the main context made for keys are kept for
/// their steps' execution (a step that hits the cache leaves its own).
const KEPT_SELECTIONS: usize = 4;

/// What a selection of the main context was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelectionRequest {
    paths: Vec<String>,
    exclude: Vec<String>,
    parents: bool,
}

impl SelectionRequest {
    fn new(paths: &[String], exclude: &[String], parents: bool) -> Self {
        SelectionRequest {
            paths: paths.to_vec(),
            exclude: exclude.to_vec(),
            parents,
        }
    }
}
