/* tm_probe SPEC[,SPEC...] [BYTES]: opens tiers and allocates on the last, for tests that need a fresh
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
  /* SPEC may list several tiers, comma-separated: all are opened, the last one is used. */
  tm_tier *t = NULL;
  for (char *spec = strtok(argv[1], ","); spec != NULL; spec = strtok(NULL, ",")) {
    t = tm_tier_find(spec);
    if (t == NULL) {
      fprintf(stderr, "%s\n", tm_last_error());
      return 1;
    }
  }
  if (t == NULL) return 2;
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
