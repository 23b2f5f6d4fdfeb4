//! `-o/--output`: where a build's result goes besides the store.

use crate::cmd::buildopts::key_values;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::PathBuf;
use strata_builder::archive::{self, Blob, ImageBlobs, write_dir, write_tar};
use strata_builder::convert::convert_image;
use strata_builder::export::{StoreBlobs, open_output, write_rootfs, write_rootfs_tar};
use strata_builder::image::OCI_MANIFEST;
use strata_builder::state::LayerRef;
use strata_layer::Compression;
use strata_registry::Reference;
use strata_store::Descriptor;
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
        /// `name=`: names, comma-separated (default: the `-t` tags).
        name: Option<String>,
    },
    /// A `docker load` archive (`type=docker`).
    Docker {
        /// File, `-` for stdout.
        dest: String,
        /// `name=`: names, comma-separated (default: the `-t` tags).
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
        /// `name=`: names, comma-separated (default: the `-t` tags).
        name: Option<String>,
        /// Push to the registry.
        push: bool,
        /// `compression=`: the layers this build made, in this compression.
        compression: Option<Compression>,
        /// `force-compression=true`: the base image's layers too.
        force_compression: bool,
    },
    /// The root filesystem as a tar (`type=tar`).
    Tar {
        /// File, `-` for stdout.
        dest: String,
    },
}

impl Output {
    /// Whether the output writes an image manifest (not files).
    pub fn writes_image(&self) -> bool {
        matches!(
            self,
            Output::Image { .. } | Output::Oci { .. } | Output::Docker { .. }
        )
    }

    /// For progress messages.
    pub fn describe(&self) -> String {
        match self {
            Output::Oci { dest, .. } => format!("OCI layout to {dest}"),
            Output::Docker { dest, .. } => format!("docker archive to {dest}"),
            Output::Local { dest } => format!("files to {}", dest.display()),
            Output::Tar { dest } => format!("root filesystem tar to {dest}"),
            Output::Image {
                push: true,
                compression: Some(c),
                ..
            } => format!("image pushed ({})", strata_layer::media_type(*c)),
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
        let mut compression = None;
        let mut force_compression = false;
        for (k, v) in key_values(spec)? {
            match k.as_str() {
                "type" => {}
                "name" => name = Some(v),
                "push" => push = v == "true",
                "compression" => compression = Some(parse_compression(&v)?),
                "force-compression" => {
                    force_compression = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => bail!("--output {spec:?}: force-compression must be true or false"),
                    }
                }
                other => bail!("--output {spec:?}: unknown key {other:?} for type=image"),
            }
        }
        return Ok(Output::Image {
            name,
            push,
            compression,
            force_compression,
        });
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

/// `compression=` of an image output, with buildx's names.
pub fn parse_compression(value: &str) -> Result<Compression> {
    Ok(match value {
        "gzip" => Compression::Gzip { level: 6 },
        "zstd" => Compression::Zstd { level: 3 },
        "estargz" => Compression::Estargz { level: 6 },
        // podman's name (`--compression-format zstd:chunked`); buildx has none.
        "zstd:chunked" => Compression::ZstdChunked { level: 3 },
        "uncompressed" => Compression::None,
        other => {
            bail!("compression={other}: expected gzip, estargz, zstd, zstd:chunked or uncompressed")
        }
    })
}

/// The image an output writes: for `type=image` with `compression=`, the
/// image with its layers recompressed (those `built` by this build, or
/// all with `force-compression=true`); else `image` itself.
pub fn converted(
    out: &Output,
    store: &Store,
    image: &ImageBlobs,
    built: &BTreeSet<String>,
) -> Result<ImageBlobs> {
    let Output::Image {
        compression: Some(compression),
        force_compression,
        ..
    } = out
    else {
        return Ok(image.clone());
    };
    let desc = Descriptor::new(
        OCI_MANIFEST,
        image.manifest.digest.parse()?,
        image.manifest.size,
    );
    let only = (!force_compression).then_some(built);
    let new = convert_image(store, &desc, *compression, only)?;
    let manifest: serde_json::Value = serde_json::from_slice(&store.read_blob(&new.digest)?)?;
    let layers = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| Blob {
            digest: l["digest"].as_str().unwrap_or_default().to_string(),
            size: l["size"].as_u64().unwrap_or_default(),
            media_type: l["mediaType"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    Ok(ImageBlobs {
        manifest: Blob {
            digest: new.digest.to_string(),
            size: new.size,
            media_type: new.media_type,
        },
        // eStargz layers have their own diffIDs, in a new config.
        config: Blob {
            digest: manifest["config"]["digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            size: manifest["config"]["size"].as_u64().unwrap_or_default(),
            media_type: manifest["config"]["mediaType"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        },
        layers,
    })
}

/// The names an image output (`type=image`, `oci`, `docker`) gives the
/// image: `name=` split at commas, else the `-t` tags; `name=` empty,
/// none. (buildx lets `-t` replace `name=`; here the output's own option
/// wins, so `-t app -o type=image,name=reg/app,push=true` pushes what it
/// names.)
pub fn output_names(name: &Option<String>, tags: &[String]) -> Vec<String> {
    match name.as_deref() {
        None => tags.to_vec(),
        Some("") => Vec::new(),
        Some(n) => n.split(',').map(str::to_string).collect(),
    }
}

/// The names an `oci` or `docker` archive gives the image, normalised as
/// BuildKit does; a name that is not a valid reference is an error (the
/// build checks this before it starts).
pub fn archive_names(out: &Output, tags: &[String]) -> Result<Vec<Reference>> {
    let (Output::Oci { name, .. } | Output::Docker { name, .. }) = out else {
        return Ok(Vec::new());
    };
    let names = output_names(name, tags);
    archive::output_names(&names)
        .with_context(|| format!("--output {}: name {}", out.describe(), names.join(",")))
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
    let names = |name: &Option<String>| output_names(name, tags);
    let mtime = source_date_epoch.unwrap_or(0).max(0) as u64;
    match out {
        Output::Oci {
            dest, tar: false, ..
        } => {
            write_dir(
                std::path::Path::new(dest),
                image,
                &archive_names(out, tags)?,
                &blobs,
            )
            .with_context(|| format!("writing OCI layout {dest}"))?;
        }
        Output::Oci { dest, .. } => {
            let names = archive_names(out, tags)?;
            let mut w = open_output(dest).with_context(|| format!("creating {dest}"))?;
            write_tar(&mut w, image, &names, false, &blobs, mtime)
                .with_context(|| format!("writing {dest}"))?;
            w.flush().with_context(|| format!("writing {dest}"))?;
        }
        Output::Docker { dest, .. } => {
            let names = archive_names(out, tags)?;
            let mut w = open_output(dest).with_context(|| format!("creating {dest}"))?;
            write_tar(&mut w, image, &names, true, &blobs, mtime)
                .with_context(|| format!("writing {dest}"))?;
            w.flush().with_context(|| format!("writing {dest}"))?;
        }
        Output::Local { dest } => write_rootfs(store, layers, dest)?,
        Output::Image { name, push, .. } => {
            let names = names(name);
            strata_builder::image::tag_image(store, image, &names)?;
            if *push {
                if names.is_empty() {
                    bail!("--output type=image,push=true: name the image with name= or -t");
                }
                for n in &names {
                    let name = strata_builder::image::store_name(n);
                    crate::cmd::registry::push(store, &name, n, None, client)?;
                }
            }
        }
        Output::Tar { dest } => {
            let w = open_output(dest).with_context(|| format!("creating {dest}"))?;
            let mut w = write_rootfs_tar(store, layers, w, source_date_epoch)?;
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
                push: true,
                compression: None,
                force_compression: false,
            }
        );
        assert_eq!(
            parse("type=image,push=true,compression=zstd,force-compression=true").unwrap(),
            Output::Image {
                name: None,
                push: true,
                compression: Some(Compression::Zstd { level: 3 }),
                force_compression: true,
            }
        );
        assert_eq!(
            parse_compression("estargz").unwrap(),
            Compression::Estargz { level: 6 }
        );
        assert_eq!(
            parse_compression("zstd:chunked").unwrap(),
            Compression::ZstdChunked { level: 3 }
        );
        assert!(parse("type=image,compression=zstd:seekable").is_err());
        assert!(parse("type=image,oci-mediatypes=true").is_err());
    }

    #[test]
    fn name_wins_over_tags() {
        let name = Some("a,b:2".to_string());
        assert_eq!(output_names(&name, &[]), ["a", "b:2"]);
        assert_eq!(output_names(&name, &["t".into()]), ["a", "b:2"]);
        assert_eq!(output_names(&None, &["t".into(), "u".into()]), ["t", "u"]);
        assert!(output_names(&Some(String::new()), &["t".into()]).is_empty());
        assert!(output_names(&None, &[]).is_empty());
    }
}
