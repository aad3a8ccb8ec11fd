# An unmodified Python program for vm.auto-run: a cold set written once and a hot set written
# over and over, for SECONDS. It knows its own hot set, so it asks the kernel where that set's
# pages are (move_pages with no target nodes; the name of the mapping for a device) and
# checks every byte of both sets at the end. Its objects reach malloc (and so the preload
# library) only with PYTHONMALLOC=malloc, which the scenario sets.
#   python3 auto_hot.py SECONDS HOT_MIB COLD_MIB DEVICE_TAG
import ctypes, hashlib, sys, time

seconds, hot_mib, cold_mib, tag = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
MiB, PAGE = 1 << 20, 4096
cold = bytearray(cold_mib * MiB)
for i in range(cold_mib):  # a pattern per MiB, so a misplaced MiB shows
    cold[i * MiB:(i + 1) * MiB] = bytes([i % 251 + 1]) * MiB
hot = bytearray(hot_mib * MiB)
addr = ctypes.addressof((ctypes.c_char * len(hot)).from_buffer(hot))
pages = len(hot) // PAGE


def hot_share():
    """(pages on node 0, pages in a mapping named TAG, pages): asked of the kernel."""
    libc = ctypes.CDLL(None, use_errno=True)
    ptrs = (ctypes.c_void_p * pages)(*[addr + k * PAGE for k in range(pages)])
    status = (ctypes.c_int * pages)()
    on0 = -1
    if libc.syscall(279, 0, ctypes.c_ulong(pages), ptrs, None, status, 0) == 0:  # SYS_move_pages
        on0 = sum(1 for s in status if s == 0)
    maps = []
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            maps.append((lo, hi, tag in line))
    in_dev = 0
    for k in range(pages):
        a = addr + k * PAGE
        in_dev += any(lo <= a < hi and named for lo, hi, named in maps)
    return on0, in_dev, pages


start = time.monotonic()
rounds = 0
while time.monotonic() - start < seconds:
    hot[:] = bytes([rounds % 251 + 1]) * len(hot)
    rounds += 1
on0, in_dev, n = hot_share()
want_hot = hashlib.sha256(bytes([(rounds - 1) % 251 + 1]) * len(hot)).hexdigest()
ok_hot = hashlib.sha256(hot).hexdigest() == want_hot
ok_cold = all(cold[i * MiB:(i + 1) * MiB] == bytes([i % 251 + 1]) * MiB for i in range(cold_mib))
print(f"rounds {rounds} hot_pages {n} on_node0 {on0} in_{tag} {in_dev} hot_ok {int(ok_hot)} cold_ok {int(ok_cold)}")
sys.exit(0 if ok_hot and ok_cold else 1)
