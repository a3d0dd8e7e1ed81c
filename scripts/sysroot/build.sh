#!/bin/sh
# Build a riscv64 sysroot from Debian trixie packages, for pyqemu-riscv64 -L.
#
#   scripts/sysroot/build.sh [DEST]     (default ~/.cache/pyqemu/sysroot)
#
# apt-get download runs through a private apt configuration (its own
# sources list, lists and cache under DEST's parent), so the machine's apt
# state is never touched; the mirror is the first `URIs:` of the machine's
# own Debian sources. Packages are unpacked with dpkg-deb -x; python's
# standard library is byte-compiled afterwards (dpkg-deb leaves no .pyc,
# and without them every import compiles from source in the guest).
# Re-running with everything in place does nothing. PYQEMU_RISCV64 names
# the emulator command used when qemu-riscv64 is not installed.
set -eu

DEST=${1:-"$HOME/.cache/pyqemu/sysroot"}
WORK="$DEST.apt"
PACKAGES="libc6 libgcc-s1 busybox lua5.4 liblua5.4-0 libreadline8t64 libtinfo6
libncursesw6 python3.13-minimal libpython3.13-minimal libexpat1 zlib1g libssl3t64
libzstd1 liblzma5 libbz2-1.0 libffi8 libmpdec4 libstdc++6"

# Bump when the result changes shape (v2: precompiled python stdlib).
STAMP="v2 $(echo $PACKAGES)"
if [ -f "$DEST/.complete" ] && [ "$(cat "$DEST/.complete")" = "$STAMP" ]; then
    echo "$DEST: up to date"
    exit 0
fi

mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror=$(awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' "$f")
    [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|ftp|file):/) { print $i; exit } }' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
    echo "build.sh: no Debian mirror found in the machine's apt sources" >&2
    exit 1
fi

mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$DEST"
echo "deb [arch=riscv64 trusted=yes] $mirror trixie main" > "$WORK/sources.list"
: > "$WORK/status"
APT_OPTS="-o Dir::Etc::SourceList=$WORK/sources.list -o Dir::Etc::SourceParts=/nonexistent
 -o Dir::State::Lists=$WORK/lists -o Dir::State::status=$WORK/status -o Dir::Cache=$WORK/cache
 -o APT::Architecture=riscv64 -o APT::Architectures=riscv64 -o Debug::NoLocking=1
 -o Acquire::Languages=none -o APT::Sandbox::User=root"

# shellcheck disable=SC2086
apt-get $APT_OPTS update -qq
cd "$WORK/debs"
# shellcheck disable=SC2086
apt-get $APT_OPTS download $PACKAGES
for deb in "$WORK"/debs/*.deb; do
    dpkg-deb -x "$deb" "$DEST"
done

# Debian's usrmerge layout: /lib, /bin, /sbin are links into /usr.
for d in lib bin sbin; do
    if [ ! -e "$DEST/$d" ] && [ ! -L "$DEST/$d" ]; then ln -s "usr/$d" "$DEST/$d"; fi
done
# busybox applets the acceptance pipelines call by name.
if [ -x "$DEST/usr/bin/busybox" ] && [ ! -e "$DEST/usr/bin/sh" ] && [ ! -L "$DEST/usr/bin/sh" ]; then
    ln -s busybox "$DEST/usr/bin/sh"
fi
# Byte-compile python's standard library with the guest python itself
# (the .pyc must come from the same version): under qemu-riscv64 when it is
# installed (seconds), else under pyqemu-riscv64 (many minutes).
for py in "$DEST"/usr/lib/python3.*; do
    [ -d "$py" ] || continue
    ver=$(basename "$py" | sed 's/python//')
    [ -x "$DEST/usr/bin/python$ver" ] || continue
    if command -v qemu-riscv64 >/dev/null 2>&1; then
        run="qemu-riscv64 -L $DEST"
    else
        run="${PYQEMU_RISCV64:-pyqemu-riscv64} -L $DEST"
    fi
    # shellcheck disable=SC2086
    # (host path to write into, -d for the path the guest sees)
    $run "$DEST/usr/bin/python$ver" -m compileall -q -x '/(test|idlelib|tkinter)/' \
        -d "/usr/lib/python$ver" "$DEST/usr/lib/python$ver" >/dev/null 2>&1 || echo "build.sh: compileall failed (imports will be slow)" >&2
done
echo "$STAMP" > "$DEST/.complete"
echo "$DEST: built from $mirror trixie"
