//! Errors of the LLB compiler.

use strata_plan::StageId;

/// Why a plan could not be compiled to LLB (or a definition not decoded).
///
/// Every variant about a step carries the Dockerfile line where the step
/// starts, so the CLI can point at it.
#[derive(Debug, thiserror::Error)]
pub enum LlbError {
    /// The plan's target is not one of its stages.
    #[error("target stage {0:?} is not in the plan")]
    MissingTarget(StageId),
    /// A step or a `FROM` names a stage that does not exist.
    #[error("line {line}: stage {stage:?} is not in the plan")]
    UnknownStage {
        /// The missing stage.
        stage: StageId,
        /// Line of the instruction that names it.
        line: usize,
    },
    /// A stage reads a stage that is compiled later (the plan's order is broken).
    #[error("line {line}: stage {stage:?} is used before it is built")]
    StageNotBuilt {
        /// The stage that was not compiled yet.
        stage: StageId,
        /// Line of the instruction that uses it.
        line: usize,
    },
    /// `FROM NAME` where NAME is a named build context without a mapping in
    /// [`crate::LlbOptions::named_contexts`].
    #[error(
        "line {line}: named context {name:?} has no mapping (pass it in LlbOptions::named_contexts)"
    )]
    NamedContextUnmapped {
        /// The context name.
        name: String,
        /// Line of the `FROM`.
        line: usize,
    },
    /// An image reference that cannot be normalised.
    #[error("line {line}: invalid image reference {reference:?}: {reason}")]
    InvalidImageRef {
        /// The reference as written.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
        /// Line of the instruction.
        line: usize,
    },
    /// A platform that is not `os/arch[/variant]`.
    #[error("line {line}: invalid platform {platform:?}, expected os/arch[/variant]")]
    InvalidPlatform {
        /// The platform as written.
        platform: String,
        /// Line of the instruction (0 for the options' default platform).
        line: usize,
    },
    /// A `--chmod` that is neither octal up to 07777 nor symbolic.
    #[error(
        "line {line}: invalid chmod {value:?}: expected octal (0 to 07777) or symbolic (u+x,g-w)"
    )]
    InvalidChmod {
        /// The value as written.
        value: String,
        /// Line of the instruction.
        line: usize,
    },
    /// A `RUN` whose command is empty.
    #[error("line {line}: RUN has an empty command")]
    EmptyCommand {
        /// Line of the `RUN`.
        line: usize,
    },
    /// A `COPY`/`ADD` without any source.
    #[error("line {line}: no sources given for copy")]
    NoSources {
        /// Line of the instruction.
        line: usize,
    },
    /// A URL or git source given to `COPY` (only `ADD` fetches).
    #[error("line {line}: source {source_path:?} can't be a URL for COPY")]
    UrlInCopy {
        /// The source.
        source_path: String,
        /// Line of the instruction.
        line: usize,
    },
    /// `ADD --checksum` on something other than one HTTP(S) source.
    #[error("line {line}: checksum can only be given for a single HTTP(S) source")]
    ChecksumNotHttp {
        /// Line of the instruction.
        line: usize,
    },
    /// A `RUN --mount` whose target is the root directory.
    #[error("line {line}: invalid mount target {target:?}")]
    InvalidMountTarget {
        /// The target.
        target: String,
        /// Line of the `RUN`.
        line: usize,
    },
    /// The bytes given to [`crate::render`] are not an LLB definition.
    #[error("not an LLB definition: {0}")]
    Decode(#[from] prost::DecodeError),
}
