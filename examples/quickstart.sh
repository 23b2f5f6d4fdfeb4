#!/usr/bin/env bash
# The README's main job: build the Django example with strata, then add a
# dependency and rebuild to show what the cache reused.
#
# Needs root (RUN steps use namespaces and overlayfs). The python base image
# is built once from Debian packages with mmdebstrap (installed if missing)
# and imported into the store; pip inside the build reaches PyPI through the
# host's CA bundle, passed in as a build secret.
set -euo pipefail
cd "$(dirname "$0")/.."

export STRATA_ROOT=${STRATA_ROOT:-/var/lib/strata}
BASE=python-base:bookworm

echo "==> building strata (release)"
cargo build --release --quiet
# Where cargo put it: CARGO_TARGET_DIR when set, else ./target.
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
case $target_dir in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
strata=$target_dir/release/strata

if ! "$strata" images | awk 'NR > 1 {print $1}' | grep -qx "$BASE"; then
    if ! command -v mmdebstrap >/dev/null; then
        echo "==> installing mmdebstrap"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
    fi
    echo "==> making $BASE from Debian packages (about 30 s)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mmdebstrap --quiet --variant=minbase --include=python3,python3-pip,ca-certificates \
        bookworm "$tmp/rootfs.tar"
    "$strata" import "$tmp/rootfs.tar" "$BASE"
fi

work=$(mktemp -d)
cp -r examples/django/. "$work/"

build() {
    "$strata" build --progress=plain \
        --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt \
        -t django-example:latest "$work"
}

echo "==> first build"
build
echo "==> rebuild with nothing changed (every step cached)"
build
echo "==> add a dependency and rebuild (only the install step and what follows run)"
echo "six" >> "$work/requirements.txt"
build
echo "==> edit a view and rebuild (only COPY . /code/ and what follows run)"
sed -i 's/Hello from/Hello again from/' "$work/mysite/views.py"
build
"$strata" images
rm -rf "$work"
