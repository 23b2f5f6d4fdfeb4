//! Compiles a strata [`Plan`] into a BuildKit LLB definition: the
//! serialized protobuf that `buildctl build` reads on stdin.
//!
//! The mapping follows BuildKit's own Dockerfile frontend (dockerfile2llb):
//!
//! - `FROM image` is a `docker-image://` source with a normalised reference,
//!   `FROM scratch` no vertex at all, `FROM stage` that stage's vertex;
//! - the build context is one `local://context` source carrying the
//!   `.dockerignore` rules (`local.excludepatterns`) and the paths the build
//!   reads (`local.followpaths`); named contexts are `local://NAME` unless
//!   mapped to an image in [`LlbOptions::named_contexts`];
//! - `RUN` is an `ExecOp` (shell form wrapped with the stage's `SHELL`,
//!   environment from `ENV` and the build arguments, working directory,
//!   user, network and security modes, and every mount type);
//! - `COPY`/`ADD` are `FileOp` copy actions (`https://` and `git://` sources
//!   for `ADD`, heredocs as files made in scratch); `--link` copies onto
//!   scratch and merges with a `MergeOp`;
//! - `WORKDIR` is a `mkdir -p` action; config-only instructions add no vertex
//!   but change the state later vertices read.
//!
//! Each op is marshalled with prost and named by the SHA-256 of its bytes;
//! maps are `BTreeMap`s, so the same plan always gives the same bytes. The
//! last op of the definition is the output pointer, as `llb.Marshal` emits.
//!
//! LLB cannot carry the image configuration (ENV, CMD, LABEL…):
//! [`image_config`] renders it as OCI image-config JSON for the CLI to write
//! next to the definition.
//!
//! ```
//! use strata_llb::{LlbOptions, compile, render};
//! use strata_plan::{ImageSource, Plan, Stage, StageId};
//! let plan = Plan {
//!     stages: vec![Stage {
//!         id: StageId(0),
//!         name: None,
//!         base: ImageSource::Image("alpine:3.20".into()),
//!         platform: None,
//!         steps: vec![],
//!         span: Default::default(),
//!     }],
//!     ..Default::default()
//! };
//! let bytes = compile(&plan, &LlbOptions::default()).unwrap();
//! assert!(render(&bytes).unwrap().contains("docker-image://docker.io/library/alpine:3.20"));
//! ```

mod compile;
mod config;
mod error;
mod exec;
mod file;
mod graph;
mod paths;
mod reference;
mod render;
mod sources;
mod state;

pub use bollard_buildkit_proto::pb;
pub use config::image_config;
pub use error::LlbError;
pub use graph::digest_of;
pub use reference::normalize_image_ref;
pub use render::render;

use prost::Message;
use std::collections::BTreeMap;
use strata_plan::Plan;

/// What a named build context (`--build-context NAME=…`) stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory sent by the client as `local://NAME`.
    Local,
    /// An image reference (`docker-image://…`).
    Image(String),
}

/// Options of the compilation that are not in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlbOptions {
    /// Target platform `os/arch[/variant]` of every op (stages with
    /// `FROM --platform` use theirs). Default `linux/amd64`.
    pub platform: String,
    /// Session id put in `local.session` of local sources, if any; buildctl
    /// fills in its own session when this is empty.
    pub session_id: Option<String>,
    /// Mappings of named contexts. Unmapped names used by `COPY --from` or
    /// a bind mount are local directories; `FROM NAME` needs a mapping.
    pub named_contexts: BTreeMap<String, NamedContext>,
}

impl Default for LlbOptions {
    fn default() -> Self {
        LlbOptions {
            platform: "linux/amd64".to_string(),
            session_id: None,
            named_contexts: BTreeMap::new(),
        }
    }
}

/// Compiles `plan` into an LLB definition (the protobuf message).
pub fn compile_definition(plan: &Plan, opts: &LlbOptions) -> Result<pb::Definition, LlbError> {
    compile::Compiler::new(plan, opts)?.compile()
}

/// Compiles `plan` into the serialized LLB definition that
/// `buildctl build` reads on stdin.
pub fn compile(plan: &Plan, opts: &LlbOptions) -> Result<Vec<u8>, LlbError> {
    Ok(compile_definition(plan, opts)?.encode_to_vec())
}
