#!/bin/sh
# host-rootfs.sh DIR: builds a small root filesystem in DIR from the host,
# without network, for the executor and end-to-end tests.
#
# Needs only the Debian package busybox-static (/bin/busybox, a static
# binary): its applets are symlinked into /bin. When the host has bash, it is
# copied too with the shared libraries that ldd lists (set NO_BASH=1 to skip).
# /etc/passwd and /etc/group define root, app (1000, also in groups wheel and
# users) and nobody.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ]; then
        busybox=$candidate
        break
    fi
done
if [ -z "$busybox" ]; then
    echo "$0: busybox not found (apt-get install busybox-static)" >&2
    exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
    echo "$0: $busybox is not static (apt-get install busybox-static)" >&2
    exit 1
fi

mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin etc dev proc sys tmp root home/app var/tmp usr/bin usr/sbin
chmod 1777 tmp var/tmp
chmod 700 root
cp "$busybox" bin/busybox
for applet in $(bin/busybox --list); do
    [ -e "bin/$applet" ] || ln -s busybox "bin/$applet"
done

# bash and the libraries it links, when the host has it.
if [ "${NO_BASH:-}" != 1 ] && [ -x /bin/bash ]; then
    rm -f bin/bash
    cp /bin/bash bin/bash
    for lib in $(ldd /bin/bash | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
        mkdir -p ".$(dirname "$lib")"
        cp -L "$lib" ".$lib"
    done
fi

cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
wheel:x:10:app
users:x:100:app
app:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 home/app
