// jemalloc's extent hook table (`extent_hooks_t`, jemalloc 5.x ABI), declared here so the
// backend layer does not include <jemalloc/jemalloc.h> (which declares the unprefixed malloc).
// The layout is the contract between jemalloc and a memory source; see jemalloc's
// doc "arena.<i>.extent_hooks".
#pragma once
#include <cstddef>

namespace tiermem::backend {

struct extent_hooks_t;
using extent_alloc_t = void *(extent_hooks_t *, void *, std::size_t, std::size_t, bool *, bool *,
                              unsigned);
using extent_dalloc_t = bool(extent_hooks_t *, void *, std::size_t, bool, unsigned);
using extent_destroy_t = void(extent_hooks_t *, void *, std::size_t, bool, unsigned);
using extent_commit_t = bool(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                             unsigned);
using extent_purge_t = bool(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                            unsigned);
using extent_split_t = bool(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t, bool,
                            unsigned);
using extent_merge_t = bool(extent_hooks_t *, void *, std::size_t, void *, std::size_t, bool,
                            unsigned);

struct extent_hooks_t {
  extent_alloc_t *alloc;
  extent_dalloc_t *dalloc;
  extent_destroy_t *destroy;
  extent_commit_t *commit;
  extent_commit_t *decommit;
  extent_purge_t *purge_lazy;
  extent_purge_t *purge_forced;
  extent_split_t *split;
  extent_merge_t *merge;
};

}  // namespace tiermem::backend
