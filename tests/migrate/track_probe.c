/* What the kernel's page-table bits tell about accesses to a range, per kind of memory:
 * soft-dirty bits in /proc/self/pagemap after clear_refs 4 (writes), and smaps' Referenced
 * after clear_refs 1 (reads and writes, per mapping). Prints one line per source:
 *   track_probe anon|dax:/dev/daxX.Y|node:N  MiB
 * The range is written whole, the bits cleared, then the first eighth written and the second
 * eighth read; the line gives what each source saw in each part (pages). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void clear_refs(const char *what) {
  int fd = open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0 || write(fd, what, strlen(what)) != (ssize_t)strlen(what)) {
    perror("clear_refs");
    exit(2);
  }
  close(fd);
}

static long referenced_kib(void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  int inside = 0;
  long kib = -1;
  uintptr_t a = (uintptr_t)p;
  while (fgets(line, sizeof line, f)) {
    uintptr_t lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ':') && line[strlen(line) - 2] != 'B') {
      inside = a >= lo && a < hi;
      continue;
    }
    if (inside && sscanf(line, "Referenced: %ld kB", &kib) == 1) break;
  }
  fclose(f);
  return kib;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: track_probe anon|dax:/dev/daxX.Y|node:N MiB\n");
    return 2;
  }
  size_t bytes = (size_t)atol(argv[2]) << 20, page = 4096, n = bytes / page;
  char *p;
  if (strncmp(argv[1], "dax:", 4) == 0) {
    int fd = open(argv[1] + 4, O_RDWR);
    if (fd < 0) { perror(argv[1] + 4); return 2; }
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  } else {
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* Base pages: a transparent huge page carries one soft-dirty bit for 512 pages. */
    if (p != MAP_FAILED) madvise(p, bytes, MADV_NOHUGEPAGE);
    if (p != MAP_FAILED && strncmp(argv[1], "node:", 5) == 0) {
      unsigned long mask = 1UL << atoi(argv[1] + 5);
      if (mbind(p, bytes, MPOL_BIND, &mask, 64, 0) != 0) { perror("mbind"); return 2; }
    }
  }
  if (p == MAP_FAILED) { perror("mmap"); return 2; }
  memset(p, 1, bytes);
  clear_refs("4");
  clear_refs("1");
  for (size_t i = 0; i < n / 8; ++i) p[i * page] = 2;
  volatile char sink = 0;
  for (size_t i = n / 8; i < n / 4; ++i) sink += p[i * page];
  int pm = open("/proc/self/pagemap", O_RDONLY);
  uint64_t *e = calloc(n, 8);
  if (pread(pm, e, n * 8, (off_t)((uintptr_t)p / page * 8)) != (ssize_t)(n * 8)) { perror("pagemap"); return 2; }
  size_t sd[3] = {0, 0, 0}, present = 0;
  for (size_t i = 0; i < n; ++i) {
    int part = i < n / 8 ? 0 : i < n / 4 ? 1 : 2;
    sd[part] += (e[i] >> 55) & 1;
    present += (e[i] >> 63) & 1;
  }
  printf("%s: pages %zu present %zu | soft-dirty written %zu/%zu read %zu/%zu untouched %zu/%zu | "
         "smaps Referenced %ld kB (touched %zu kB): ",
         argv[1], n, present, sd[0], n / 8, sd[1], n / 8, sd[2], n - n / 4, referenced_kib(p),
         (n / 4) * 4);
  (void)sink;
  /* What tiermem's access tracking relies on: exactly the written pages come back
   * soft-dirty, and smaps counts at least every touched page as referenced. */
  int ok = sd[0] == n / 8 && sd[1] == 0 && sd[2] == 0 && referenced_kib(p) >= (long)((n / 4) * 4);
  printf("%s\n", ok ? "ok" : "UNEXPECTED");
  return ok ? 0 : 1;
}
