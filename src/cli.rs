//! Command-line definitions.

use crate::progress::ProgressMode;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// strata: build OCI images from Dockerfiles, daemonless, with a
/// content-addressed cache that reruns only what an edit invalidated.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    /// The store (an OCI image layout plus the cache). Default: $STRATA_ROOT,
    /// /var/lib/strata as root, else $XDG_DATA_HOME/strata.
    #[arg(long, global = true, env = "STRATA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Allow plain HTTP for this registry (`host:port`) when HTTPS fails;
    /// loopback registries always may. Repeatable.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure_registries: Vec<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile and a context.
    Build(Box<BuildArgs>),
    /// List the images in the store.
    Images(ImagesArgs),
    /// Remove image tags from the store.
    Rmi(RmiArgs),
    /// Give an image in the store another name.
    Tag(TagArgs),
    /// Make an image from a root filesystem tar (like `docker import`).
    Import(ImportArgs),
    /// Pull an image from a registry into the store.
    Pull(PullArgs),
    /// Push an image from the store to a registry.
    Push(PushArgs),
    /// Load images from an OCI layout or `docker save` archive (tar or directory).
    Load(LoadArgs),
    /// Store maintenance.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Inspect, prune and verify the build cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Benchmarks: scripted edit scenarios, git history replay, predictions.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `strata bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Run a scenario (a project and a scripted sequence of edits, rebuilt
    /// after each), with buildah and docker side by side when installed.
    Scenario(ScenarioArgs),
    /// Build (or, with --predict, predict) each of the last commits of a
    /// git repository, oldest first, in one checkout.
    Replay(ReplayArgs),
}

/// `strata bench scenario`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The scenario (`django`, `django-python`, `large-context`,
    /// `multi-stage`) or `all`.
    pub name: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Files in the generated context of `large-context` (about 11.5 KB each).
    #[arg(long, default_value_t = 20_000)]
    pub files: u32,
    /// Peers to run side by side: `auto` (those installed), `none`, or a
    /// comma-separated list of `docker`, `buildah`.
    #[arg(long, default_value = "auto")]
    pub peers: String,
    /// Where projects and stores go (default: a temporary directory, removed after).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Before each build, predict its steps from the keys (as `bench
    /// replay --predict`, executing nothing) and report every step where
    /// the build did otherwise. The prediction warms the stat cache the
    /// build then uses.
    #[arg(long)]
    pub predict_check: bool,
}

/// `strata bench replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A git repository with a Dockerfile.
    pub repo: PathBuf,
    /// How many of the last commits to build.
    #[arg(long, default_value_t = 10)]
    pub commits: usize,
    /// The Dockerfile, relative to the repository's root.
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    pub file: String,
    /// Set a build-time variable (`KEY=VALUE`); repeatable.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Execute nothing: predict each step's hit or miss from the keys.
    #[arg(long)]
    pub predict: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The checkout directory (default: a temporary one, removed after).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
}

/// `strata cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List cache records (one per cached step).
    Ls(CacheLsArgs),
    /// Show what the cache and the store use on disk.
    Du,
    /// Remove cache records and what only they need.
    Prune(PruneArgs),
    /// Run cached RUN steps again and report those whose output differs.
    Verify(VerifyArgs),
}

/// Output formats of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table.
    Table,
    /// One JSON object per line.
    Json,
}

/// `strata cache ls`.
#[derive(Debug, Args)]
pub struct CacheLsArgs {
    /// `table` or `json`.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// `strata cache prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every record, snapshot and stat cache (and cache mounts);
    /// tagged images keep their blobs.
    #[arg(short, long)]
    pub all: bool,
    /// Remove least-recently-used records until the cache holds at most
    /// this much (`500MB`, `5GB`; binary units as docker: 1MB = 1024 kB).
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Remove records not used within this duration (`90m`, `24h`, `7d`).
    #[arg(long, value_name = "DURATION")]
    pub keep_duration: Option<String>,
    /// Filter as docker: `until=DURATION` (same as --keep-duration).
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Also remove `RUN --mount=type=cache` directories no build is using.
    #[arg(long)]
    pub mounts: bool,
}

/// `strata cache verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this many steps, the most recently used first (default 10).
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub sample: Option<usize>,
    /// Verify every replayable step.
    #[arg(long)]
    pub all: bool,
}

/// `strata store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Verify every blob's digest and report dangling references.
    Check,
}

/// `strata pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image (`python:3.12-slim`, `localhost:5000/app@sha256:…`).
    pub reference: String,
}

/// `strata push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// An image in the store.
    pub name: String,
    /// Where to push it (default: the same name).
    pub destination: Option<String>,
    /// Recompress the layers first: `gzip`, `zstd`, `estargz` (gzip that
    /// stargz-snapshotter pulls lazily; new diffIDs, so a new config),
    /// `zstd:chunked` (zstd that podman pulls partially; same diffIDs) or
    /// `uncompressed` (a layer already in that compression is kept; a
    /// converted blob is kept for the next push).
    #[arg(long)]
    pub compression: Option<String>,
}

/// `strata images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print JSON (one object per tag) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print only the manifest digests.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `strata rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// The names to remove.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `strata tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// An image in the store.
    pub source: String,
    /// The new name.
    pub target: String,
}

/// `strata import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tar of a root filesystem (plain, gzip or zstd); `-` reads stdin.
    pub file: String,
    /// The name to give the image.
    pub name: String,
    /// A Dockerfile instruction to apply (`CMD ["sh"]`, `ENV A=b`); repeatable.
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
}

/// `strata load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive (tar) or OCI layout directory: an OCI layout, or a
    /// `docker save` archive with or without `index.json`. `PATH:TAG` or
    /// `PATH@sha256:…` picks one image of it; `-` reads a tar from stdin.
    #[arg(short = 'i', long = "input", default_value = "-")]
    pub input: String,
    /// Tag the loaded image with this name too (needed when the archive names none).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
}

/// `--snapshotter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotterArg {
    /// overlayfs when the store's file system supports it, else copy.
    Auto,
    /// overlayfs over the parent's extracted layers.
    Overlay,
    /// A copy of the parent's files, compared after the step.
    Copy,
}

/// What `--print` shows instead of building.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrintMode {
    /// The build plan (stages and expanded steps), as readable text.
    Plan,
    /// The BuildKit LLB definition (binary protobuf, for `buildctl build`).
    Llb,
    /// The LLB definition as readable text.
    LlbText,
    /// The image configuration (ENV, CMD, …) that LLB cannot carry, as JSON.
    LlbConfig,
}

/// `strata build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context directory, or `-` for a tar on stdin.
    pub context: String,

    /// The Dockerfile (default: CONTEXT/Dockerfile); `-` reads it from stdin.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<String>,

    /// Name the image (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,

    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,

    /// The stage to build (default: the last one).
    #[arg(long)]
    pub target: Option<String>,

    /// Run every step, ignoring the cache (`--no-cache=false` as docker's).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub no_cache: bool,

    /// Run every step of these stages, ignoring the cache; repeatable.
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,

    /// Explain cache misses in full: reasons name every changed file (not
    /// only the first three), and the build ends with the list of steps
    /// that ran and why, also with `--progress=quiet`.
    #[arg(long, visible_alias = "explain-misses")]
    pub explain: bool,

    /// Networking for RUN steps: `default` (the host's), `host` or `none`.
    #[arg(long, default_value = "default", value_parser = ["default", "host", "none"])]
    pub network: String,

    /// Run RUN steps with an external OCI runtime (`runc`, `crun`, or a
    /// path to a compatible binary) instead of the built-in executor.
    #[arg(long, value_name = "runc|crun|PATH")]
    pub runtime: Option<String>,

    /// How steps get a writable root: `overlay`, `copy` (a full copy of
    /// the parent's files, diffed after the step: slower, for file systems
    /// without overlayfs) or `auto` (overlay when the store supports it).
    #[arg(long, value_enum, default_value = "auto")]
    pub snapshotter: SnapshotterArg,

    /// Where else to put the result: `type=oci|docker|local|tar,dest=…`
    /// (`tar=false` for an OCI directory), or a directory; repeatable.
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,

    /// How to show progress (default: $BUILDKIT_PROGRESS, else auto).
    #[arg(long, value_enum, default_value = "auto", env = "BUILDKIT_PROGRESS")]
    pub progress: ProgressMode,

    /// Show nothing but the image ID (and errors).
    #[arg(short, long)]
    pub quiet: bool,

    /// Write the image ID (config digest) to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// Write build metadata (digests, per-step cache status and times) as JSON.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// Set an image label (`KEY=VALUE`); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// The platform to build for; only the host's is supported.
    #[arg(long)]
    pub platform: Option<String>,

    /// Extra build context: `NAME=DIR`, `NAME=docker-image://REF`,
    /// `NAME=oci-layout://PATH[:TAG]`; repeatable.
    #[arg(long = "build-context", value_name = "NAME=SOURCE")]
    pub build_contexts: Vec<String>,

    /// A secret for `RUN --mount=type=secret`: `id=ID[,src=FILE|,env=VAR]`; repeatable.
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// An SSH agent for `RUN --mount=type=ssh`: `default` ($SSH_AUTH_SOCK)
    /// or `ID=SOCKET`; repeatable.
    #[arg(long = "ssh", value_name = "SPEC")]
    pub ssh: Vec<String>,

    /// Grant an entitlement: `security.insecure` (for `RUN --security=insecure`).
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,

    /// Check the registry for newer base images instead of using the store's.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub pull: bool,

    /// Push the image to its `-t` names after the build (same as
    /// `-o type=image,push=true`).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub push: bool,

    /// buildx's "load into docker": strata's images are always in its own
    /// store (tagged with `-t`, readable as `oci:STORE:TAG`), so this asks
    /// for nothing more; it never touches a docker daemon.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub load: bool,

    /// Add a line to RUN's `/etc/hosts`: `HOST:IP` or `HOST=IP`;
    /// `host-gateway` is the host (127.0.0.1: RUN shares its network). Repeatable.
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,

    /// Size of RUN's `/dev/shm` (`128m`, `1g`; default 64m).
    #[arg(long, value_name = "SIZE")]
    pub shm_size: Option<String>,

    /// A resource limit of RUN: `NAME=SOFT[:HARD]` (`nofile=1024:2048`,
    /// `-1` unlimited). Repeatable.
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimits: Vec<String>,

    /// Attestations: strata makes none, so only `type=…,disabled=true` is accepted.
    #[arg(long, value_name = "SPEC")]
    pub attest: Vec<String>,

    /// `false` (strata makes no provenance attestation); anything else is refused.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "false")]
    pub provenance: Option<String>,

    /// `false` (strata makes no SBOM attestation); anything else is refused.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "false")]
    pub sbom: Option<String>,

    /// Answer a question instead of building, as buildx's `--call`:
    /// `check` (as `--check`), `outline` (the build args, secrets and ssh
    /// agents the target uses), `targets` (the stages) or `build` (the
    /// default); `,format=json` prints BuildKit's JSON, `,ignorestatus=true`
    /// exits 0 when checks fired.
    #[arg(long, value_name = "METHOD[,format=text|json]")]
    pub call: Option<String>,

    /// An annotation of the image manifest: `[manifest:]KEY=VALUE`
    /// (index and descriptor levels are refused); repeatable.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// buildx's cgroup for RUN: refused (strata manages no cgroups).
    #[arg(long, value_name = "PATH")]
    pub cgroup_parent: Option<String>,

    /// buildx's builder instance: refused (strata has none; see --root).
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,

    /// docker's legacy `--rm` (default true): strata never keeps a RUN's
    /// container, so `--rm=false` is refused.
    #[arg(long, hide = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub rm: bool,

    /// docker's legacy `--force-rm`: strata removes a RUN's container
    /// whether it failed or not, which is what it asks for.
    #[arg(long, hide = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub force_rm: bool,

    /// docker's legacy resource and isolation flags, which buildx accepts
    /// and ignores: refused by name (`--memory`, `--cpu-shares`, …).
    #[command(flatten)]
    pub legacy: LegacyBuildFlags,

    /// Layer compression: `gzip` (default) or `zstd`.
    #[arg(long, default_value = "gzip", value_parser = ["gzip", "zstd"])]
    pub compression: String,

    /// Export the build cache: `type=registry,ref=REF` or
    /// `type=local,dest=DIR`, with `mode=min|max` (steps of the final
    /// image's stages, or of every stage), `mounts=true` (pack the
    /// `RUN --mount=type=cache` directories too), `ignore-error=true`.
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,

    /// Import a build cache: `type=registry,ref=REF` (or just `REF`) or
    /// `type=local,src=DIR`; repeatable. A cache that cannot be read is a
    /// warning.
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,

    /// Print the plan or the LLB definition instead of building.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub print: Option<PrintMode>,

    /// Only run the build checks (BuildKit's Dockerfile lints) and report
    /// them, without building; exit 1 when any check fires. Without
    /// `--target` every stage is checked.
    #[arg(long, conflicts_with = "print")]
    pub check: bool,
}

/// The flags of docker's legacy builder that buildx hides and ignores.
/// strata refuses each by name, so a script does not silently lose them.
#[derive(Debug, Default, Args)]
pub struct LegacyBuildFlags {
    /// Refused: memory limit.
    #[arg(short = 'm', long, hide = true)]
    pub memory: Option<String>,
    /// Refused: memory plus swap limit.
    #[arg(long, hide = true)]
    pub memory_swap: Option<String>,
    /// Refused: CPU shares.
    #[arg(short = 'c', long, hide = true)]
    pub cpu_shares: Option<String>,
    /// Refused: CFS period.
    #[arg(long, hide = true)]
    pub cpu_period: Option<String>,
    /// Refused: CFS quota.
    #[arg(long, hide = true)]
    pub cpu_quota: Option<String>,
    /// Refused: CPUs allowed.
    #[arg(long, hide = true)]
    pub cpuset_cpus: Option<String>,
    /// Refused: memory nodes allowed.
    #[arg(long, hide = true)]
    pub cpuset_mems: Option<String>,
    /// Refused: container isolation technology.
    #[arg(long, hide = true)]
    pub isolation: Option<String>,
    /// Refused: security options.
    #[arg(long, hide = true)]
    pub security_opt: Vec<String>,
    /// Refused: squash new layers into one.
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub squash: Option<String>,
    /// Refused: gzip the context sent to a daemon.
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub compress: Option<String>,
}

impl LegacyBuildFlags {
    /// The first flag given, as `--name`.
    pub fn first_given(&self) -> Option<&'static str> {
        let given = [
            ("--memory", self.memory.is_some()),
            ("--memory-swap", self.memory_swap.is_some()),
            ("--cpu-shares", self.cpu_shares.is_some()),
            ("--cpu-period", self.cpu_period.is_some()),
            ("--cpu-quota", self.cpu_quota.is_some()),
            ("--cpuset-cpus", self.cpuset_cpus.is_some()),
            ("--cpuset-mems", self.cpuset_mems.is_some()),
            ("--isolation", self.isolation.is_some()),
            ("--security-opt", !self.security_opt.is_empty()),
            ("--squash", self.squash.is_some()),
            ("--compress", self.compress.is_some()),
        ];
        given.into_iter().find(|(_, on)| *on).map(|(name, _)| name)
    }
}
