# An allocation-heavy Python workload: dicts, lists, strings and big byte strings built and
# dropped in waves. Prints a checksum that must not depend on the allocator.
import hashlib

h = hashlib.sha256()
for wave in range(6):
    table = {f"k{wave}-{i}": [i] * (i % 17) for i in range(60000)}
    blobs = [bytes([i % 251]) * (1000 + 37 * i) for i in range(400)]
    words = " ".join(str(i * wave) for i in range(50000)).split()
    h.update(str(sum(len(v) for v in table.values())).encode())
    h.update(b"".join(b[:5] for b in blobs))
    h.update(",".join(sorted(words)[:1000]).encode())
    del table, blobs, words
print(h.hexdigest())
