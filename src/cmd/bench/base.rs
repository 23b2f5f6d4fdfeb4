//! The base image of the built-in scenarios: a busybox root filesystem
//! made from the host (`testdata/rootfs/host-rootfs.sh`, no network) with
//! a fake `pip` that "installs" requirements into site-packages, so the
//! Django-like scenario needs no network.

use super::{Strata, run_ok};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The base image's name in every builder.
pub const BASE: &str = "strata-bench/busybox-pip:1";

const HOST_ROOTFS: &str = include_str!("../../../testdata/rootfs/host-rootfs.sh");

/// `pip install -r FILE` without network (shared with the end-to-end
/// tests of examples/django).
const FAKE_PIP: &str = include_str!("../../../testdata/rootfs/fake-pip.sh");

/// Archives of the base for peers: a docker archive and an OCI archive.
#[derive(Debug, Clone)]
pub struct BaseArchives {
    /// `docker load` input.
    pub docker: PathBuf,
    /// `buildah pull oci-archive:` input.
    pub oci: PathBuf,
}

/// Makes the base image in strata's store (importing a root filesystem
/// built from the host) and writes archives of it for peers.
pub fn make(strata: &Strata, dir: &Path) -> Result<BaseArchives> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let rootfs = dir.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    let script = dir.join("host-rootfs.sh");
    std::fs::write(&script, HOST_ROOTFS)
        .with_context(|| format!("writing {}", script.display()))?;
    run_ok(Command::new("sh").arg(&script).arg(&rootfs))
        .context("making the base root filesystem (needs busybox-static)")?;
    let pip = rootfs.join("usr/local/bin/pip");
    std::fs::create_dir_all(rootfs.join("usr/local/bin"))?;
    std::fs::write(&pip, FAKE_PIP).with_context(|| format!("writing {}", pip.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pip, std::fs::Permissions::from_mode(0o755))?;
    }
    let tar = dir.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    run_ok(
        strata
            .command()
            .arg("import")
            .arg(&tar)
            .arg(BASE)
            .args(["-c", r#"CMD ["sh"]"#]),
    )
    .context("importing the base image")?;
    let _ = std::fs::remove_dir_all(&rootfs);
    // The archives come from a build of `FROM base`: the same image.
    let ctx = dir.join("base-export");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {BASE}\n"))?;
    let archives = BaseArchives {
        docker: dir.join("base-docker.tar"),
        oci: dir.join("base-oci.tar"),
    };
    run_ok(
        strata
            .command()
            .args(["build", "--progress=quiet", "-o"])
            .arg(format!(
                "type=docker,dest={},name={BASE}",
                archives.docker.display()
            ))
            .arg("-o")
            .arg(format!(
                "type=oci,dest={},name={BASE}",
                archives.oci.display()
            ))
            .arg(&ctx),
    )
    .context("exporting the base image for peers")?;
    Ok(archives)
}
