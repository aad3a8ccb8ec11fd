/* heap_basics: allocate on a chosen tier, free without naming it, use a policy, read stats.
 *
 *   TIERMEM_EMULATE=slow:1G ./example_heap_basics [TIER]      (default TIER: emulated:slow)
 *
 * On a machine with tiered memory, pass e.g. "kind:cxl-dram" or "dax:dax0.0" instead. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiermem/tiermem.h"

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "emulated:slow";
  tm_tier *slow = tm_tier_find(spec);
  if (slow == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }

  /* A buffer on that tier; tm_free, tm_realloc and tm_tier_of need no tier argument. */
  size_t n = 1 << 20;
  char *buf = tm_malloc(slow, n);
  if (buf == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }
  memset(buf, 'x', n);
  buf = tm_realloc(buf, 2 * n); /* stays on the same tier */
  printf("%zu bytes on %s\n", tm_usable_size(buf), tm_tier_name(tm_tier_of(buf)));

  /* A policy: up to 64 MiB on the slow tier, then the fastest tier. */
  char text[128];
  snprintf(text, sizeof text, "preferred(%s<=64M, rank:0)", spec);
  tm_policy *pol = tm_policy_parse(text);
  if (pol == NULL) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 1;
  }
  void *blocks[100];
  for (int i = 0; i < 100; ++i) {
    blocks[i] = tm_policy_malloc(pol, 1 << 20);
    if (blocks[i] == NULL) {
      fprintf(stderr, "%s\n", tm_last_error());
      return 1;
    }
  }
  printf("block 0 on %s, block 99 on %s (policy %s)\n", tm_tier_name(tm_tier_of(blocks[0])),
         tm_tier_name(tm_tier_of(blocks[99])), tm_policy_text(pol));
  for (int i = 0; i < 100; ++i) tm_free(blocks[i]);
  tm_policy_free(pol);

  tm_tier_stats s;
  if (tm_tier_stats_get(slow, &s) == 0) {
    printf("%s: mapped %llu, allocated %llu, peak %llu, fallbacks %llu\n", s.name,
           (unsigned long long)s.mapped, (unsigned long long)s.allocated,
           (unsigned long long)s.peak, (unsigned long long)s.fallbacks);
  }
  char *json = tm_stats_json();
  if (json != NULL) {
    printf("%s\n", json);
    free(json);
  }
  tm_free(buf);
  return 0;
}
