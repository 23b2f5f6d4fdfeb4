//! What the tests of the lazily pullable layer formats (eStargz,
//! zstd:chunked) share: an image with a file of several chunks, and the
//! Go checkers built against the reference readers Debian packages.

use super::{Env, dockerfile_context, have_tool, in_ci, run_ok};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A base layer, a COPY of a small and a big file, a RUN.
pub const DOCKERFILE: &str = "\
FROM busybox
COPY greeting.txt big.txt /srv/
RUN echo built-by-run > /srv/made.txt
CMD [\"cat\", \"/srv/made.txt\", \"/srv/greeting.txt\"]
";

/// What the image of [`DOCKERFILE`] prints.
pub const OUTPUT: &str = "built-by-run\nhello from the context\n";

/// About 7 MB: a file of two 4 MiB chunks.
pub fn big_text() -> String {
    (0..400_000u64)
        .map(|i| format!("line {i} {}\n", i * i % 9973))
        .collect()
}

/// A context with `dockerfile`, `greeting.txt` and `big.txt`.
pub fn context(env: &Env, dockerfile: &str) -> PathBuf {
    dockerfile_context(
        env,
        "ctx",
        dockerfile,
        &[
            ("greeting.txt", "hello from the context\n"),
            ("big.txt", &big_text()),
        ],
    )
}

/// `sha256:` of `data`.
pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Where Debian's golang-github-* packages put their sources.
const GO_PATH: &str = "/usr/share/gocode";

/// The Go program `tests/NAME` built in GOPATH mode against Debian's
/// sources, which must hold the package `lib`. `None` outside CI without
/// Go or the package.
pub fn go_checker(env: &Env, name: &str, lib: &str) -> Option<PathBuf> {
    let lib = Path::new(GO_PATH).join("src").join(lib);
    if !have_tool("go") {
        assert!(!in_ci(), "go is required in CI");
        return None;
    }
    if !lib.is_dir() {
        assert!(!in_ci(), "{} is required in CI", lib.display());
        eprintln!("note: {} missing; not verifying with it", lib.display());
        return None;
    }
    let out = env.path(name);
    run_ok(
        Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests")
                    .join(name),
            )
            .env("GOPATH", GO_PATH)
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .env("GOCACHE", env.path("go-cache")),
    );
    Some(out)
}
