#!/bin/sh
# `make fresh`: proves that a fresh Debian 12 goes from clone to working with the README's two
# commands.  Builds a minimal Debian 12 root with debootstrap (minbase plus make, git and
# ca-certificates: what a user needs to clone and type make), copies a clean clone of HEAD and
# ../shared into it, and runs the commands there in a chroot.  The pristine root is kept as a
# tarball in build/fresh/ and unpacked anew for every run, so nothing leaks between runs.
# Needs root (debootstrap, chroot, mounts).  FRESH_CMDS overrides the commands.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/fresh
base=$work/bookworm-minbase.tar
root=$work/root
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
cmds=${FRESH_CMDS:-"make demo && make test"}

[ "$(id -u)" -eq 0 ] || { echo "make fresh needs root (debootstrap and chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
mkdir -p "$work"
start=$(date +%s)
cleanup() {
    for m in dev/pts dev proc sys; do umount "$root/$m" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
cleanup
if [ ! -f "$base" ]; then
    rm -rf "$root"
    echo "fresh: debootstrap bookworm (minbase + make git ca-certificates)"
    debootstrap --variant=minbase --include=make,git,ca-certificates bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log"; exit 1; }
    tar -C "$root" -cf "$base" .
fi
rm -rf "$root"; mkdir -p "$root"
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This workplace reaches the registries through a TLS proxy whose CA the host machine trusts; a
# fresh machine here has the same site CAs, so carry them (not any package) into the root.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
fi
git clone -q --no-hardlinks "$top" "$root/root/seekd"
if [ -d "$top/../shared" ]; then cp -r "$top/../shared" "$root/root/shared"; fi
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t sysfs sys "$root/sys"
echo "fresh: running '$cmds' in a clean clone of $(git -C "$top" rev-parse --short HEAD)"
rc=0
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS} \
    ${SSL_CERT_FILE:+npm_config_cafile=$SSL_CERT_FILE} /bin/sh -c "cd /root/seekd && $cmds" || rc=$?
end=$(date +%s)
echo "fresh: exit $rc after $((end - start)) s"
exit $rc
