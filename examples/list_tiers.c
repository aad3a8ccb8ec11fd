/* list_tiers: print the machine's memory tiers through tiermem's C API.
 * Usage: list_tiers [FSROOT]   (FSROOT: a recorded machine; default: this one) */
#include <stdio.h>
#include <tiermem/tiermem.h>

int main(int argc, char **argv) {
  tm_topology_options opts = {0};
  if (argc > 1) opts.fsroot = argv[1];
  tm_topology *topo = NULL;
  int rc = tm_topology_load(&opts, &topo);
  if (rc != 0) {
    fprintf(stderr, "%s\n", tm_last_error());
    return 2;
  }
  for (size_t i = 0; i < tm_topology_tier_count(topo); ++i) {
    tm_tier_info t;
    tm_topology_tier(topo, i, &t);
    printf("tier %u: %s, %zu node(s), %zu dax device(s), %llu bytes", t.rank, t.kind,
           t.numa_node_count, t.dax_device_count, (unsigned long long)t.capacity_bytes);
    if (t.bandwidth_mbps >= 0) printf(", %lld MiB/s", (long long)t.bandwidth_mbps);
    printf("\n");
  }
  tm_topology_free(topo);
  return 0;
}
