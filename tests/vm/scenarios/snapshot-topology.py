#!/usr/bin/python3
"""Copies the sysfs and procfs files that describe this machine's memory topology into D.

    snapshot-topology.py D

D then looks like / to whoever reads it (tiermem's discovery with its sysfs root at D, or
hwloc with HWLOC_FSROOT=D): D/sys/devices/system/node/node0/meminfo and so on. Regular files
are copied by content (sysfs reports 4096 bytes for every attribute), symlinks are kept as
symlinks with their relative target (so D/sys/bus/dax/devices/dax0.0/driver still names
its driver), and no link is followed, which keeps out the loops sysfs is full of.

The set of paths follows what hwloc's Linux backend reads (CPU and NUMA node trees, DMI,
hugepages, the PCI tree and the dax bus for I/O) plus what tiermem reads on top: the kernel's
memory tiers and every dax device's attributes. It runs in one process because every
fork+exec costs a tenth of a second in a TCG guest, which made a shell loop over the
same ~1500 files take minutes.
"""
import errno
import os
import sys

MAX_FILE = 64 * 1024  # sysfs text attributes are at most a page; skip big binary blobs

FILES = [
    "/proc/cmdline", "/proc/cpuinfo", "/proc/meminfo", "/proc/mounts", "/proc/stat",
    "/proc/version", "/proc/self/cpuset", "/proc/self/cgroup",
]
TREES = [
    "/sys/devices/system/cpu", "/sys/bus/cpu/devices",
    "/sys/devices/system/node", "/sys/bus/node/devices",
    "/sys/class/dmi/id", "/sys/devices/virtual/dmi/id",
    "/sys/kernel/mm/hugepages",
    "/sys/devices/virtual/memory_tiering",
    "/sys/bus/dax", "/sys/class/dax",
    "/sys/bus/pci/devices", "/sys/bus/pci/slots",
]


def copy_file(src, dest):
    try:
        with open(src, "rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError:
        return  # write-only attributes, root-only or device-backed files that refuse reads
    if len(data) > MAX_FILE:
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "wb") as f:
        f.write(data)


def copy_link(src, dest):
    if os.path.lexists(dest):
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.symlink(os.readlink(src), dest)


def copy_tree(root, out):
    if not os.path.lexists(root):
        return
    if os.path.islink(root):
        copy_link(root, out + root)
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        os.makedirs(out + dirpath, exist_ok=True)
        for name in dirnames + filenames:
            src = os.path.join(dirpath, name)
            if os.path.islink(src):
                copy_link(src, out + src)
            elif name in filenames and not os.path.exists(out + src):
                copy_file(src, out + src)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: snapshot-topology.py D")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    for f in FILES:
        copy_file(f, out + f)
    for t in TREES:
        copy_tree(t, out)
    # The device directories behind the bus links: a dax device's attributes and its parent
    # (the nd region or the hmem platform device), and every PCI device's own directory.
    for bus, up in (("/sys/bus/dax/devices", 1), ("/sys/bus/pci/devices", 0)):
        if not os.path.isdir(bus):
            continue
        for name in sorted(os.listdir(bus)):
            target = os.path.realpath(os.path.join(bus, name))
            for _ in range(up):
                target = os.path.dirname(target)
            copy_tree(target, out)
    # hwloc also reads the PCI host bridges' directories for locality.
    for name in sorted(os.listdir("/sys/devices")):
        if name.startswith("pci"):
            copy_tree(os.path.join("/sys/devices", name), out)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        sys.exit(f"snapshot-topology: {e.filename}: {os.strerror(e.errno or errno.EIO)}")
