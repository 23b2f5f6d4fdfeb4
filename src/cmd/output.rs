//! `-o/--output`: where a build's result goes besides the store.

use crate::cmd::buildopts::key_values;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use strata_builder::archive::{ImageBlobs, write_dir, write_tar};
use strata_builder::export::{StoreBlobs, open_output, write_rootfs, write_rootfs_tar};
use strata_builder::state::LayerRef;
use strata_store::Store;

/// One output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI layout (`type=oci`), as a tar or a directory.
    Oci {
        /// File (`-` for stdout) or directory.
        dest: String,
        /// Write a tar (default) or a directory.
        tar: bool,
        /// Names to tag inside the layout.
        name: Option<String>,
    },
    /// A `docker load` archive (`type=docker`).
    Docker {
        /// File, `-` for stdout.
        dest: String,
        /// Names (default: the `-t` tags).
        name: Option<String>,
    },
    /// The root filesystem as files (`type=local`).
    Local {
        /// Directory.
        dest: PathBuf,
    },
    /// The image in the store under more names, pushed when asked
    /// (`type=image` / `type=registry`).
    Image {
        /// Names, comma-separated (default: the `-t` tags).
        name: Option<String>,
        /// Push to the registry.
        push: bool,
    },
    /// The root filesystem as a tar (`type=tar`).
    Tar {
        /// File, `-` for stdout.
        dest: String,
    },
}

impl Output {
    /// For progress messages.
    pub fn describe(&self) -> String {
        match self {
            Output::Oci { dest, .. } => format!("OCI layout to {dest}"),
            Output::Docker { dest, .. } => format!("docker archive to {dest}"),
            Output::Local { dest } => format!("files to {}", dest.display()),
            Output::Tar { dest } => format!("root filesystem tar to {dest}"),
            Output::Image { push: true, .. } => "image pushed".to_string(),
            Output::Image { .. } => "image named in the store".to_string(),
        }
    }
}

/// Parses one `-o` value as buildx does: `type=…,dest=…`, `-` (a tar of
/// the files to stdout) or a bare directory.
pub fn parse(spec: &str) -> Result<Output> {
    if spec == "-" {
        return Ok(Output::Tar { dest: "-".into() });
    }
    if spec
        .split(',')
        .any(|p| p == "type=image" || p == "type=registry")
    {
        let mut name = None;
        let mut push = spec.split(',').any(|p| p == "type=registry");
        for (k, v) in key_values(spec)? {
            match k.as_str() {
                "type" => {}
                "name" => name = Some(v),
                "push" => push = v == "true",
                other => bail!("--output {spec:?}: unknown key {other:?} for type=image"),
            }
        }
        return Ok(Output::Image { name, push });
    }
    if !spec.contains('=') {
        return Ok(Output::Local {
            dest: PathBuf::from(spec),
        });
    }
    let mut kind = None;
    let mut dest = None;
    let mut tar = true;
    let mut name = None;
    for (k, v) in key_values(spec)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "dest" => dest = Some(v),
            "tar" => {
                tar = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => bail!("--output {spec:?}: tar must be true or false"),
                }
            }
            "name" => name = Some(v),
            other => bail!("--output {spec:?}: unknown key {other:?}"),
        }
    }
    let kind = kind.unwrap_or_else(|| "local".into());
    let need_dest = |dest: Option<String>| {
        dest.with_context(|| format!("--output {spec:?}: dest= is required for type={kind}"))
    };
    Ok(match kind.as_str() {
        "oci" => Output::Oci {
            dest: need_dest(dest)?,
            tar,
            name,
        },
        "docker" => Output::Docker {
            dest: need_dest(dest)?,
            name,
        },
        "local" => Output::Local {
            dest: PathBuf::from(need_dest(dest)?),
        },
        "tar" => Output::Tar {
            dest: need_dest(dest)?,
        },
        other => bail!("--output type={other}: unknown type (oci, docker, local, tar)"),
    })
}

/// Writes one output.
pub fn export(
    out: &Output,
    store: &Store,
    image: &ImageBlobs,
    layers: &[LayerRef],
    tags: &[String],
    source_date_epoch: Option<i64>,
    client: &dyn Fn() -> Result<strata_registry::Client>,
) -> Result<()> {
    let blobs = StoreBlobs(store);
    let names = |name: &Option<String>| -> Vec<String> {
        match name {
            Some(n) => n.split(',').map(str::to_string).collect(),
            None => tags.to_vec(),
        }
    };
    let mtime = source_date_epoch.unwrap_or(0).max(0) as u64;
    match out {
        Output::Oci {
            dest,
            tar: false,
            name,
        } => {
            write_dir(std::path::Path::new(dest), image, &names(name), &blobs)
                .with_context(|| format!("writing OCI layout {dest}"))?;
        }
        Output::Oci { dest, name, .. } => {
            let mut w = open_output(dest).with_context(|| format!("creating {dest}"))?;
            write_tar(&mut w, image, &names(name), false, &blobs, mtime)
                .with_context(|| format!("writing {dest}"))?;
            w.flush().with_context(|| format!("writing {dest}"))?;
        }
        Output::Docker { dest, name } => {
            let names: Vec<String> = names(name)
                .iter()
                .map(|n| strata_builder::archive::docker_repo_tag(n))
                .collect();
            let mut w = open_output(dest).with_context(|| format!("creating {dest}"))?;
            write_tar(&mut w, image, &names, true, &blobs, mtime)
                .with_context(|| format!("writing {dest}"))?;
            w.flush().with_context(|| format!("writing {dest}"))?;
        }
        Output::Local { dest } => write_rootfs(store, layers, dest)?,
        Output::Image { name, push } => {
            let names = names(name);
            strata_builder::image::tag_image(store, image, &names)?;
            if *push {
                if names.is_empty() {
                    bail!("--output type=image,push=true: name the image with name= or -t");
                }
                for n in &names {
                    let name = strata_builder::image::store_name(n);
                    crate::cmd::registry::push(store, &name, n, client)?;
                }
            }
        }
        Output::Tar { dest } => {
            let mut w = open_output(dest).with_context(|| format!("creating {dest}"))?;
            write_rootfs_tar(store, layers, &mut w, source_date_epoch)?;
            w.flush().with_context(|| format!("writing {dest}"))?;
        }
    }
    Ok(())
}

use std::io::Write as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_like_buildx() {
        assert_eq!(
            parse("type=oci,dest=o.tar").unwrap(),
            Output::Oci {
                dest: "o.tar".into(),
                tar: true,
                name: None
            }
        );
        assert_eq!(
            parse("type=oci,dest=dir,tar=false").unwrap(),
            Output::Oci {
                dest: "dir".into(),
                tar: false,
                name: None
            }
        );
        assert_eq!(
            parse("out").unwrap(),
            Output::Local {
                dest: PathBuf::from("out")
            }
        );
        assert_eq!(parse("-").unwrap(), Output::Tar { dest: "-".into() });
        assert!(parse("type=oci").unwrap_err().to_string().contains("dest="));
        assert!(parse("type=nope,dest=x").is_err());
        assert_eq!(
            parse("type=image,name=a,push=true").unwrap(),
            Output::Image {
                name: Some("a".into()),
                push: true
            }
        );
        assert!(parse("type=image,compression=zstd").is_err());
    }
}
