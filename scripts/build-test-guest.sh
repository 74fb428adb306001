#!/usr/bin/env bash
# Builds the QEMU guest the kernel-initiator tests (tests/guest) boot: Debian's own
# kernel (linux-image-amd64, unpacked with dpkg-deb, never installed) and an initramfs
# with busybox-static, open-iscsi (iscsid, iscsiadm, iscsistart), e2fsprogs, fstrim,
# sg_reset and the modules for iscsi_tcp, sd_mod, ext4, virtio_net and crc32c.
#
# Usage: build-test-guest.sh CACHE_ROOT
# Prints the guest's directory (CACHE_ROOT/KEY, holding vmlinuz, initrd.img and
# versions.txt) on its last line. KEY hashes the package versions, this script and the
# guest's init, so a new kernel or open-iscsi builds a new guest and an unchanged one
# is reused. Needs apt-get (lists updated), dpkg-deb, cpio, depmod and modprobe, as
# scripts/install-test-deps.sh installs.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 CACHE_ROOT" >&2; exit 2; }
root_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
init_src=$here/../tests/guest/init.sh
for tool in apt-get apt-cache dpkg-deb dpkg-query cpio depmod modprobe readelf gzip sha256sum; do
	command -v "$tool" >/dev/null || { echo "build-test-guest: $tool missing: run scripts/install-test-deps.sh" >&2; exit 1; }
done

# The kernel package the metapackage points at (linux-image-6.1.0-N-amd64).
kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
kpkg=$(kernel_package)
if [ -z "$kpkg" ] && [ "$(id -u)" -eq 0 ]; then
	apt-get update >&2 # package lists missing (a fresh image): fetch them once
	kpkg=$(kernel_package)
fi
[ -n "$kpkg" ] || { echo "build-test-guest: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2; exit 1; }
# sg3-utils' library, whose package name carries its version.
sglib=$(apt-cache depends sg3-utils 2>/dev/null | awk '/Depends: libsgutils2/{print $2; exit}')
[ -n "$sglib" ] || { echo "build-test-guest: apt-cache knows no sg3-utils" >&2; exit 1; }
# Downloaded into the guest: the kernel, busybox, open-iscsi with its own libraries,
# and sg3-utils for sg_reset (task management the kernel sends on request).
download=("$kpkg" busybox-static open-iscsi libopeniscsiusr libisns0 sg3-utils "$sglib")
# Taken from this machine (installed by install-test-deps.sh): e2fsprogs, fstrim and
# the shared libraries every binary needs (glibc, libcrypto, libkmod, ...).
host=(e2fsprogs util-linux libc6 libssl3 libkmod2 libsystemd0 libmount1 libblkid1 libuuid1 libext2fs2 libcom-err2)

versions=""
for p in "${download[@]}"; do
	v=$(apt-cache policy "$p" | awk '/Candidate:/{print $2}')
	[ -n "$v" ] && [ "$v" != "(none)" ] || { echo "build-test-guest: no candidate for $p" >&2; exit 1; }
	versions+="$p $v"$'\n'
done
for p in "${host[@]}"; do
	v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || { echo "build-test-guest: $p is not installed: run scripts/install-test-deps.sh" >&2; exit 1; }
	versions+="$p $v (host)"$'\n'
done
key=$( (printf '%s' "$versions"; cat "$0" "$init_src") | sha256sum | cut -c1-16)
out=$root_dir/$key
if [ -s "$out/initrd.img" ] && [ -s "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$root_dir"
work=$(mktemp -d "$root_dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "${download[@]}") >&2
mkdir "$work/pkgs" "$work/rd"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/pkgs"; done
kver=$(ls "$work/pkgs/lib/modules")
rd=$work/rd

mkdir -p "$rd"/{bin,sbin,usr/bin,usr/sbin,lib64,lib/x86_64-linux-gnu,proc,sys,dev,tmp,run/lock/iscsi,mnt,etc/iscsi,var/lib/iscsi,var/lock}
# busybox, every applet a link in /bin.
cp "$work/pkgs/bin/busybox" "$rd/bin/busybox"
for a in $("$rd/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$rd/bin/$a"
done
# open-iscsi, e2fsprogs and fstrim (called by absolute path: busybox's shell prefers
# its own applets of the same names).
bins=()
for b in iscsiadm iscsid iscsistart iscsi-iname; do
	cp "$work/pkgs/sbin/$b" "$rd/sbin/$b"
	bins+=("$rd/sbin/$b")
done
for b in mke2fs e2fsck dumpe2fs tune2fs fstrim blkdiscard; do
	src=$(command -v "$b" || true)
	[ -n "$src" ] || src=/sbin/$b
	[ -x "$src" ] || { echo "build-test-guest: $b missing on this machine (e2fsprogs, util-linux)" >&2; exit 1; }
	cp "$src" "$rd/usr/sbin/$b"
	bins+=("$rd/usr/sbin/$b")
done
ln -s mke2fs "$rd/usr/sbin/mkfs.ext4"
cp "$work/pkgs/usr/bin/sg_reset" "$rd/usr/bin/sg_reset"
bins+=("$rd/usr/bin/sg_reset")
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$rd/etc/"
# iscsid serves only root on its control socket and looks the peer's uid up.
echo 'root:x:0:0:root:/:/bin/sh' >"$rd/etc/passwd"
echo 'root:x:0:' >"$rd/etc/group"
echo 'passwd: files' >"$rd/etc/nsswitch.conf"
echo 'group: files' >>"$rd/etc/nsswitch.conf"

# Shared libraries: each NEEDED name, recursively, from the unpacked packages first,
# then this machine's libraries.
declare -A seen=()
find_lib() {
	local d
	for d in "$work/pkgs/lib/x86_64-linux-gnu" "$work/pkgs/usr/lib/x86_64-linux-gnu" /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu; do
		[ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}
add_libs() {
	local lib path
	for lib in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[ -n "${seen[$lib]:-}" ] && continue
		seen[$lib]=1
		path=$(find_lib "$lib") || { echo "build-test-guest: library $lib (needed by $1) not found" >&2; exit 1; }
		cp -L "$path" "$rd/lib/x86_64-linux-gnu/$lib"
		add_libs "$rd/lib/x86_64-linux-gnu/$lib"
	done
}
for b in "${bins[@]}"; do add_libs "$b"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$rd/lib64/"

# Kernel modules, in load order (modprobe --show-depends on the unpacked tree).
depmod -b "$work/pkgs" "$kver"
: >"$rd/etc/modules.order"
for m in virtio_pci virtio_net crc32c_generic sd_mod iscsi_tcp ext4; do
	modprobe -d "$work/pkgs" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}' |
		while read -r ko; do
			rel=${ko#"$work/pkgs"}
			grep -qx "$rel" "$rd/etc/modules.order" && continue
			mkdir -p "$rd$(dirname "$rel")"
			cp "$ko" "$rd$rel"
			echo "$rel" >>"$rd/etc/modules.order"
		done
done

cp "$init_src" "$rd/init"
chmod 755 "$rd/init"
{
	printf '%s' "$versions"
	echo "kernel $kver"
} >"$rd/etc/atgt-guest-versions"

mkdir -p "$work/out"
(cd "$rd" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$work/out/initrd.img"
cp "$work/pkgs/boot/vmlinuz-$kver" "$work/out/vmlinuz"
cp "$rd/etc/atgt-guest-versions" "$work/out/versions.txt"
# Another run may have built the same guest meanwhile: keep the first one in place.
mv -T "$work/out" "$out" 2>/dev/null || [ -s "$out/initrd.img" ] || { echo "build-test-guest: cannot create $out" >&2; exit 1; }
echo "$out"
