#!/bin/sh
# PID 1 of the test VM. It runs again after every kexec and every warm reboot, and plays
# one step of the plan the harness put on the kernel command line:
#   kltest.plan=ACTION,ACTION,...   the action of boot 0, 1, ...; each is one of
#     kexec:RELEASE        `kexec-lineage kexec load` + `kexec -e` into RELEASE; the agent
#                          picks the system call (kexec_file_load where KHO is on)
#     kexec_file:RELEASE   the same with kexec-tools' -s (kexec_file_load)
#     kexec_load:RELEASE   the same with kexec-tools' -c (kexec_load), forced
#     panic                sysrq crash; with panic=1 the machine warm-reboots
#     end                  report DONE and power off
# The boot number counts on the state disk, not on the command line: a warm reboot gets
# QEMU's original command line back, and the lineage parameters are what is under test.
# Results are one-line "KLTEST" records on the serial console (parsed by machine.py).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PYTHONPATH=/opt/kexec-lineage/src
AGENT="python3 -m kexec_lineage"
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
# Kernel messages stay on the console up to here; from now on only emergencies (a panic),
# so they cannot split a KLTEST line.
dmesg -n 1

CMDLINE=$(cat /proc/cmdline)
RELEASE=$(uname -r)
BOOT=?

say() { echo "KLTEST $*"; }
# Power off through ACPI; the KHO kernels have none, and reset instead, which ends QEMU
# under -no-reboot as well.
off() { if [ -d /sys/firmware/acpi ]; then poweroff -f; else reboot -f; fi; }
fail() { say FAIL "$BOOT" "$*"; off; }
param() { for w in $CMDLINE; do case $w in "$1"=*) echo "${w#*=}"; return ;; esac; done; }
b64() { if [ -s "$1" ]; then base64 -w 0 "$1"; else echo -; fi; }

# run NAME COMMAND...: one "KLTEST RESULT boot name status stdout stderr" record, the two
# outputs base64-encoded ("-" when empty). Leaves the exit status in $rc.
run() {
    name=$1
    shift
    "$@" >/tmp/out 2>/tmp/err
    rc=$?
    say RESULT "$BOOT" "$name" "$rc" "$(b64 /tmp/out)" "$(b64 /tmp/err)"
}

# load LIST: insmod the modules the harness listed for this release, in that order; ramoops
# gets its ramoops.* parameters from the command line (busybox insmod does not read them).
load() {
    while read -r m; do
        args=
        [ "$m" = ramoops ] && args=$(for w in $CMDLINE; do
            case $w in ramoops.*) echo "${w#ramoops.}" ;; esac
        done)
        # shellcheck disable=SC2086 # one word per parameter
        insmod "/lib/modules/$RELEASE/$m.ko" $args || fail "insmod $m"
    done <"/lib/modules/$RELEASE/$1.list"
}

hostname kltest
load disk
for _ in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
mkdir -p /var/lib
# ext4, or ext2 for the KHO kernels: busybox tries each type the kernel has.
mount /dev/vda /var/lib || fail "mount /dev/vda"
BOOT=$(cat /var/lib/kltest-boots 2>/dev/null || echo 0)
echo $((BOOT + 1)) >/var/lib/kltest-boots
sync
say BOOT "$BOOT" "$RELEASE"

if [ -n "$(param ramoops.mem_address)" ]; then
    load pstore
    mount -t pstore pstore /sys/fs/pstore || fail "mount pstore"
fi

# The initramfs to hand on: 6.12 keeps the original (retain_initrd), 6.1 cannot, so the
# running root is packed again, uncompressed (compressing costs seconds under TCG).
hand_on_initrd() {
    if [ -r /sys/firmware/initrd ]; then
        cat /sys/firmware/initrd >/tmp/initrd.img
    else
        (cd / && find . -xdev ! -path './tmp/*' | cpio -o -H newc >/tmp/initrd.img 2>/dev/null)
    fi
}

# kexec_into RELEASE [KEXEC-TOOLS FLAGS...]
kexec_into() {
    release=$1
    shift
    run initrd hand_on_initrd
    [ "$rc" = 0 ] || fail "no initramfs to hand on"
    # The current command line, stale lineage words and all: replacing them is the agent's job.
    run kexec-dry-run $AGENT kexec load "/kernels/$release/vmlinuz" "$@" \
        --initrd=/tmp/initrd.img --append="$CMDLINE" --dry-run
    run kexec-load $AGENT kexec load "/kernels/$release/vmlinuz" "$@" \
        --initrd=/tmp/initrd.img --append="$CMDLINE"
    [ "$rc" = 0 ] || fail "kexec load"
    umount /var/lib
    dmesg -n 7 # the console shows the kernel's way out, with its timestamps
    kexec -e
    fail "kexec -e returned"
}

run cmdline cat /proc/cmdline
run record $AGENT record --json
run status $AGENT status --json
run spool sh -c 'for f in /var/lib/kexec-lineage/spool/*.json; do cat "$f"; echo; done'
run dmesg dmesg
# Every file of KHO's debugfs as the kernel wrote it, and what `decode` makes of it.
if [ -d /sys/kernel/debug/kho ]; then
    for f in $(cd /sys/kernel/debug && find kho -type f | sort); do
        run "debugfs:$f" cat "/sys/kernel/debug/$f"
    done
    run decode $AGENT decode
    run decode-json $AGENT decode --json
    run decode-out $AGENT decode --json /sys/kernel/debug/kho/out
fi

action=$(param kltest.plan | cut -d, -f$((BOOT + 1)))
case $action in
kexec:*) kexec_into "${action#kexec:}" ;;
kexec_file:*) kexec_into "${action#kexec_file:}" -s ;;
kexec_load:*) kexec_into "${action#kexec_load:}" -c ;;
panic)
    # No umount and no sync: the ledger must survive a crash on the agent's own fsyncs.
    echo 1 >/proc/sys/kernel/sysrq
    echo c >/proc/sysrq-trigger
    fail "still alive after sysrq c"
    ;;
end)
    umount /var/lib
    say DONE "$BOOT"
    off
    ;;
*) fail "no action for boot $BOOT in kltest.plan" ;;
esac
