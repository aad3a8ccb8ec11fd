/* tm_auto_probe POLICY [LEFT]: makes the policy (an auto one starts the migration engine) and
 * allocates one block with it, for tests that need a fresh process. Prints "ok POLICY" (the
 * canonical text), else the one-line error on stderr and exits 1. With LEFT, it first maps
 * pages until only LEFT mappings remain under vm.max_map_count (exit 77, a skip, where the
 * limit is too high to fill). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tiermem/tiermem.h"

static long mappings(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL) return -1;
  long n = 0;
  for (int c; (c = fgetc(f)) != EOF;) n += c == '\n';
  fclose(f);
  return n;
}

/* Real mappings, one per page: every other page of a reserve made readable, so that no two
 * neighbours merge. */
static int fill_maps(long left) {
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  long limit = 0;
  if (f == NULL || fscanf(f, "%ld", &limit) != 1) return 1;
  fclose(f);
  if (limit > 1000000) {
    printf("skip: vm.max_map_count %ld is too high to fill\n", limit);
    exit(77);
  }
  const long page = sysconf(_SC_PAGESIZE);
  const long add = (limit - left - mappings()) / 2;  /* each isolated page: 2 more mappings */
  if (add <= 0) return 0;
  char *p = mmap(NULL, (size_t)((2 * add + 1) * page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return 1;
  for (long i = 0; i < add; ++i)
    if (mprotect(p + (2 * i + 1) * page, (size_t)page, PROT_READ) != 0) break;  /* at the limit */
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: tm_auto_probe POLICY [LEFT]\n");
    return 2;
  }
  if (argc == 3 && fill_maps(atol(argv[2])) != 0) {
    fprintf(stderr, "tm_auto_probe: cannot fill the mappings\n");
    return 2;
  }
  tm_policy *pol = tm_policy_parse(argv[1]);
  if (pol == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }
  void *p = tm_policy_malloc(pol, 4096);
  if (p == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }
  printf("ok %s\n", tm_policy_text(pol));
  tm_free(p);
  tm_policy_free(pol);
  return 0;
}
