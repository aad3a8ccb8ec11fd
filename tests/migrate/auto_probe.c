/* tm_auto_probe POLICY: makes the policy (an auto one starts the migration engine) and
 * allocates one block with it, for tests that need a fresh process. Prints "ok POLICY" (the
 * canonical text), else the one-line error on stderr and exits 1. */
#include <stdio.h>

#include "tiermem/tiermem.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: tm_auto_probe POLICY\n");
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
