#!/bin/sh
# PID 1 of the guest's initramfs (busybox). It turns the host's / (shared read-only over virtio-9p)
# into a writable but throwaway root: an overlay whose upper layer is tmpfs. Then it mounts a pure
# cgroup2 hierarchy with the five controllers enabled and hands over to the job the host wrote into
# its work directory (a second, writable 9p share mounted at the same path as on the host).
#
# Kernel command line: pyrt.work=<host path of the work directory>.
# Serial ports: ttyS0 is the kernel console (kept for post-mortems), ttyS1 the job's output.
export PATH=/bin
/bin/busybox --install -s /bin

fail() {
    echo "pyrt-guest init: $*" >/dev/ttyS0
    echo "PYRT-GUEST-BOOT-FAILED: $*" >/dev/ttyS1
    # -no-reboot on the qemu side turns a reboot into qemu exiting.
    echo b >/proc/sysrq-trigger
    sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $(cat /lib/modules/order); do
    insmod "/lib/modules/$m.ko" || fail "insmod $m"
done

work=$(sed -n 's/.*pyrt\.work=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$work" ] || fail "no pyrt.work= on the kernel command line"

# msize: larger 9p messages cut round trips (Python start-up reads hundreds of files).
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" hostroot /lower || fail "mount host root over 9p"
mount -t tmpfs -o mode=755 upper /upper
mkdir /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot \
    || fail "mount overlay root"

for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
# The host's /run (state dirs, sockets) must not leak into the guest. /tmp stays visible:
# a checkout may live there; the guest's own temp files go to $TMPDIR on /run (see run.py).
mount -t tmpfs -o mode=755 run /newroot/run
mkdir -p /newroot/dev/pts /newroot/dev/shm /newroot/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t mqueue mqueue /newroot/dev/mqueue
# Same options as systemd on a pure-v2 host.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /newroot/sys/fs/cgroup \
    || fail "mount cgroup2"
echo "+cpuset +cpu +io +memory +pids" >/newroot/sys/fs/cgroup/cgroup.subtree_control \
    || fail "enable cgroup2 controllers"

mkdir -p "/newroot$work"
mount -t 9p -o "$opts" pyrtwork "/newroot$work" || fail "mount work share"
hostname pyrt-guest
ip link set lo up

exec switch_root /newroot /bin/sh "$work/job"
