/* tm_probe SPEC [BYTES]: opens a tier and allocates on it, for tests that need a fresh
 * process (environment read at first use, a second process holding a device). Prints
 * "ok NAME" on success, else the one-line error on stderr and exits 1. With HOLD=N in the
 * environment it keeps the tier open N seconds after printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tiermem/tiermem.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tm_probe SPEC [BYTES]\n");
    return 2;
  }
  tm_tier *t = tm_tier_find(argv[1]);
  if (t == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }
  size_t n = argc > 2 ? strtoull(argv[2], NULL, 0) : 64;
  char *p = tm_malloc(t, n);
  if (p == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }
  memset(p, 1, n);
  printf("ok %s\n", tm_tier_name(tm_tier_of(p)));
  fflush(stdout);
  const char *hold = getenv("HOLD");
  if (hold != NULL) sleep((unsigned)atoi(hold));
  tm_free(p);
  return 0;
}
