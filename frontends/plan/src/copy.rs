//! `COPY` and `ADD` steps.

use crate::StageId;
use serde::{Deserialize, Serialize};

/// Where files for `COPY`, `ADD` or a bind mount come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopySource {
    /// The main build context.
    #[default]
    Context,
    /// A named build context (`--build-context NAME=…`, `--from=NAME`).
    NamedContext(String),
    /// The result of another stage.
    Stage(StageId),
    /// The root filesystem of an image (`--from=alpine:3`).
    Image(String),
}

/// A `COPY` or `ADD` instruction, expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyStep {
    /// `ADD` semantics: URLs are fetched, local archives are extracted.
    pub add: bool,
    /// `--from=…`.
    pub from: CopySource,
    /// The sources, as written after expansion: paths relative to the source
    /// root (wildcards allowed), or URLs / git references for `ADD`.
    pub sources: CopySources,
    /// The destination as written after expansion; relative destinations are
    /// joined with the working directory by the builder. A trailing `/` is
    /// significant.
    pub dest: String,
    /// `--chown=user[:group]`, names or ids, resolved by the builder against
    /// the destination image's `/etc/passwd` and `/etc/group`.
    pub chown: Option<String>,
    /// `--chmod=` octal (`755`) or symbolic (`u+x,g-w`).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns.
    pub exclude: Vec<String>,
    /// `ADD --checksum=` (`sha256:…`).
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    /// `ADD --unpack` (default true for ADD of a local archive).
    pub unpack: Option<bool>,
}

/// The sources of a copy: files from the source, heredoc documents, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopySources {
    /// Paths (with wildcards) or, for `ADD`, URLs.
    pub paths: Vec<String>,
    /// `COPY <<EOF dest`: documents written as files named after their delimiter.
    pub heredocs: Vec<HeredocFile>,
}

/// A heredoc document, as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeredocFile {
    /// The file name (the heredoc delimiter word).
    pub name: String,
    /// The content after `<<-` tab stripping and expansion (unless the
    /// delimiter was quoted).
    pub content: String,
}
