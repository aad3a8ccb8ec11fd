#!/bin/bash
# Runs inside the test guest, as root, chrooted into the host's root (read-only 9p) with a
# fresh /tmp, /run and a writable share at /tmp/tiermem-vm. Loads the kernel modules the
# scenarios rely on, then runs one scenario and records its exit status in the share.
#
# The share's files, read by run-scenario on the host:
#   env          written by the host: the variables below
#   scenario.log the scenario's stdout and stderr
#   status       the scenario's exit status (absent: the guest never got that far)
#   error        why the guest could not run the scenario (harness problem, not the scenario)
#   out/         the scenario's output directory ($TIERMEM_VM_OUT), also its cwd
set -uo pipefail

share=/tmp/tiermem-vm
# shellcheck source=/dev/null
. "$share/env"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LANG=C.UTF-8

harness_error() {
  echo "$*" >"$share/error"
  echo "TIERMEM-VM-ERROR: $*" >/dev/console
  exit 1
}

# The dax stack and hwpoison-inject come from the booted kernel's own module tree (the host
# has another kernel); -C /dev/null keeps ndctl's modprobe.d hooks out of it. One modprobe
# for all names: every exec is slow in a TCG guest.
names=(nfit nd_pmem dax_pmem device_dax kmem hwpoison-inject)
paths=()
for m in $TIERMEM_VM_MODULES; do
  if [[ $m == */* ]]; then paths+=("$m"); else names+=("$m"); fi
done
out=$(modprobe -C /dev/null -d "$TIERMEM_VM_KROOT" -S "$TIERMEM_VM_KREL" -a "${names[@]}" 2>&1) ||
  harness_error "cannot load modules (${names[*]}) from $TIERMEM_VM_KROOT: $out"
for m in "${paths[@]}"; do
  out=$(insmod "$m" 2>&1) || harness_error "cannot load module $m: $out"
done

mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug ||
  harness_error "cannot mount debugfs on /sys/kernel/debug"

# The NVDIMM's namespace label area enumerates asynchronously after nfit loads.
for ((i = 0; i < 50; i++)); do
  [ -e /sys/bus/nd/devices/region0 ] && break
  sleep 0.1
done

mkdir -p "$TIERMEM_VM_OUT"
cd "$TIERMEM_VM_OUT" || harness_error "cannot enter $TIERMEM_VM_OUT"
echo "TIERMEM-VM-SCENARIO-START: $TIERMEM_VM_SCENARIO uptime=$(cut -d' ' -f1 /proc/uptime)" >/dev/console
bash "$TIERMEM_VM_SCENARIO_FILE" >"$share/scenario.log" 2>&1 </dev/null
rc=$?
echo "$rc" >"$share/status"
echo "TIERMEM-VM-SCENARIO-END: $TIERMEM_VM_SCENARIO rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)" >/dev/console
sync
exit 0
