#!/usr/bin/env bash
# Builds a minimal root filesystem from Debian's busybox-static, offline: DEST/bin/busybox plus one
# symlink per applet, /etc/passwd and /etc/group. Usage: busybox-rootfs.sh DEST
set -euo pipefail
dest=${1:?usage: busybox-rootfs.sh DEST}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dest"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var,run}
chmod 1777 "$dest/tmp"
cp "$bb" "$dest/bin/busybox"
for applet in $("$bb" --list-full); do
  [ -e "$dest/$applet" ] || ln -s /bin/busybox "$dest/$applet"
done
cat > "$dest/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$dest/etc/group" <<'GR'
root:x:0:
daemon:x:1:
nogroup:x:65534:
GR
echo "nameserver 127.0.0.1" > "$dest/etc/resolv.conf"
touch "$dest/etc/hosts" "$dest/etc/hostname"
