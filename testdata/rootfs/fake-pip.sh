#!/bin/sh
# A stand-in for pip, for base images without network (the benchmarks'
# busybox base, the end-to-end tests of examples/django): `pip install -r
# FILE` "installs" each requirement line as a package directory with a
# module of about 40 KB, as a real install writes files, and appends the
# line to site-packages/installed.txt.
#
# A test can make it stall: a line `fake-pip: sleep N` in the CA bundle
# (which the example mounts as a secret, so it reaches no cache key) makes
# it print "install started" and sleep N seconds before installing.
set -eu
[ "$1" = install ] || { echo "fake pip: only 'install' is supported" >&2; exit 2; }
shift
req=""
while [ $# -gt 0 ]; do
    case "$1" in
        -r) req=$2; shift 2 ;;
        *) shift ;;
    esac
done
[ -n "$req" ] || { echo "fake pip: only 'install -r FILE' is supported" >&2; exit 2; }
bundle=/etc/ssl/certs/ca-certificates.crt
if [ -f "$bundle" ]; then
    stall=$(sed -n 's/^fake-pip: sleep \([0-9][0-9]*\)$/\1/p' "$bundle")
    if [ -n "$stall" ]; then
        echo "install started"
        sleep "$stall"
    fi
fi
site=/usr/local/lib/python3/site-packages
mkdir -p "$site"
grep -v '^[[:space:]]*#' "$req" | while read -r line; do
    [ -n "$line" ] || continue
    name=$(echo "$line" | sed 's/[<>=!~;[ ].*//' | tr 'A-Z-' 'a-z_')
    mkdir -p "$site/$name"
    i=0
    while [ $i -lt 400 ]; do
        echo "# $line: generated line $i of a module that is not real"
        i=$((i + 1))
    done > "$site/$name/__init__.py"
    echo "$line" >> "$site/installed.txt"
    echo "Successfully installed $line"
done
