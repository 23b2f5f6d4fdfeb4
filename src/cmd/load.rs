//! `strata load`: images from an OCI layout or a `docker save` archive
//! (tar or directory) into the store; also used for
//! `--build-context NAME=oci-layout://…`.

use crate::cli::LoadArgs;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use strata_store::{Descriptor, Digest, REF_NAME, Store, is_manifest_or_index};

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest.hex())
}

/// Copies a blob and everything it references from a layout into the store.
fn copy_tree(store: &Store, layout: &Path, desc: &Descriptor) -> Result<()> {
    let path = blob_path(layout, &desc.digest);
    store
        .import_blob_file(&path, Some(&desc.digest))
        .with_context(|| format!("importing blob {}", desc.digest))?;
    if !is_manifest_or_index(&desc.media_type) {
        return Ok(());
    }
    let value = read_json(&path)?;
    let mut children: Vec<Value> = Vec::new();
    if let Some(c) = value.get("config") {
        children.push(c.clone());
    }
    for key in ["layers", "manifests"] {
        if let Some(list) = value.get(key).and_then(Value::as_array) {
            children.extend(list.iter().cloned());
        }
    }
    for child in children {
        let child: Descriptor =
            serde_json::from_value(child).context("bad descriptor in a manifest")?;
        if child.media_type.contains("nondistributable")
            && !blob_path(layout, &child.digest).exists()
        {
            continue;
        }
        copy_tree(store, layout, &child)?;
    }
    Ok(())
}

/// The image descriptors of a layout's `index.json` with their names.
fn layout_images(layout: &Path) -> Result<Vec<(Descriptor, Vec<String>)>> {
    let index = read_json(&layout.join("index.json"))?;
    let mut out = Vec::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let desc: Descriptor =
            serde_json::from_value(m.clone()).context("bad descriptor in index.json")?;
        let mut names = Vec::new();
        if let Some(n) = desc.annotations.get("io.containerd.image.name") {
            names.push(n.clone());
        } else if let Some(n) = desc.annotations.get(REF_NAME) {
            names.push(n.clone());
        }
        out.push((desc, names));
    }
    Ok(out)
}

/// Loads one image of an OCI layout and names it `name` in the store: the
/// one `selector` names (a tag, or a digest, which may also be a manifest
/// the index does not list, as BuildKit's `oci-layout://PATH@DIGEST`), or
/// the only one.
pub fn load_layout_image(
    store: &Store,
    layout: &Path,
    selector: Option<&str>,
    name: &str,
) -> Result<()> {
    let images = layout_images(layout)?;
    let listed = match selector {
        Some(s) => images.iter().find(|(d, names)| selected(s, d, names)),
        None => match images.as_slice() {
            [one] => Some(one),
            [] => bail!("{}: the layout has no image", layout.display()),
            _ => bail!(
                "{}: the layout has several images; name one with :TAG or @DIGEST",
                layout.display()
            ),
        },
    };
    let chosen = match (listed, selector) {
        (Some((desc, _)), _) => desc.clone(),
        (None, Some(s)) => unlisted_manifest(layout, s)?
            .with_context(|| format!("{}: no image tagged {s}", layout.display()))?,
        (None, None) => bail!("{}: the layout has no image", layout.display()),
    };
    copy_tree(store, layout, &chosen)?;
    store.set_tag(&strata_builder::image::store_name(name), &chosen)?;
    Ok(())
}

/// The descriptor of the manifest (or index) blob `selector` names by
/// digest in a layout; None when `selector` is no digest.
fn unlisted_manifest(layout: &Path, selector: &str) -> Result<Option<Descriptor>> {
    let Ok(digest) = selector.parse::<Digest>() else {
        return Ok(None);
    };
    let path = blob_path(layout, &digest);
    let bytes =
        std::fs::read(&path).with_context(|| format!("{}: no blob {digest}", layout.display()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: blob {digest} is not a manifest", layout.display()))?;
    let media_type = match value["mediaType"].as_str() {
        Some(m) => m.to_string(),
        None if value.get("manifests").is_some() => strata_store::OCI_INDEX.to_string(),
        None => strata_store::OCI_MANIFEST.to_string(),
    };
    if !is_manifest_or_index(&media_type) {
        bail!("{}: blob {digest} is not a manifest", layout.display());
    }
    Ok(Some(Descriptor::new(
        media_type,
        digest,
        bytes.len() as u64,
    )))
}

/// Splits `PATH:TAG` or `PATH@sha256:…` when PATH exists and the whole
/// input does not (an image chosen in an OCI layout, as skopeo's `oci:`).
fn split_selector(input: &str) -> (&str, Option<&str>) {
    if input == "-" || Path::new(input).exists() {
        return (input, None);
    }
    let at = input
        .rfind('@')
        .filter(|&i| input[i + 1..].starts_with("sha256:"));
    let cut = at.or_else(|| input.rfind(':'));
    match cut {
        Some(i) if Path::new(&input[..i]).exists() => (&input[..i], Some(&input[i + 1..])),
        _ => (input, None),
    }
}

/// Unpacks a tar (file or stdin) into a temporary directory of the store.
fn unpack(store: &Store, input: &str) -> Result<tempfile::TempDir> {
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-load-")
        .tempdir_in(store.root())
        .context("creating a temporary directory")?;
    let reader: Box<dyn std::io::Read> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(input).with_context(|| format!("opening {input}"))?)
    };
    strata_layer::extract(
        std::io::BufReader::new(reader),
        tmp.path(),
        strata_layer::ExtractMode::Apply,
        Some(input),
    )
    .with_context(|| format!("unpacking {input}"))?;
    Ok(tmp)
}

/// Whether an image of a layout or archive is the one `selector` names: a
/// manifest digest, a `org.opencontainers.image.ref.name`, or a full name.
fn selected(selector: &str, desc: &Descriptor, names: &[String]) -> bool {
    desc.digest.as_str() == selector
        || desc.annotations.get(REF_NAME).map(String::as_str) == Some(selector)
        || names.iter().any(|n| {
            n == selector
                || strata_builder::image::store_name(n)
                    == strata_builder::image::store_name(selector)
        })
}

/// `strata load`.
pub fn run(args: &LoadArgs, store: &Store) -> Result<()> {
    let (input, selector) = split_selector(&args.input);
    let _tmp;
    let dir: PathBuf = if Path::new(input).is_dir() {
        PathBuf::from(input)
    } else {
        let tmp = unpack(store, input)?;
        let path = tmp.path().to_path_buf();
        _tmp = tmp;
        path
    };
    let mut images = if dir.join("index.json").exists() {
        let images = layout_images(&dir)?;
        for (desc, _) in images
            .iter()
            .filter(|(d, n)| selector.is_none_or(|s| selected(s, d, n)))
        {
            copy_tree(store, &dir, desc)?;
        }
        images
    } else if dir.join("manifest.json").exists() {
        super::docker_archive::import(store, &dir)?
    } else {
        bail!("{input}: neither an OCI layout (index.json) nor a docker archive (manifest.json)");
    };
    if let Some(selector) = selector {
        images.retain(|(d, n)| selected(selector, d, n));
        if images.is_empty() {
            bail!("{input}: no image named or with digest {selector}");
        }
    }
    if images.is_empty() {
        bail!("{input}: no images");
    }
    let single = images.len() == 1;
    for (desc, names) in &images {
        let mut all: Vec<String> = names.clone();
        if single {
            all.extend(args.tags.iter().cloned());
        }
        if all.is_empty() {
            println!("Loaded image {} (untagged; use -t to name it)", desc.digest);
            continue;
        }
        for name in all {
            let name = strata_builder::image::store_name(&name);
            store.set_tag(&name, desc)?;
            println!("Loaded image: {name}");
        }
    }
    Ok(())
}
