// The private, renamed jemalloc (see rename_jemalloc.cmake): every public jemalloc function
// carries the prefix `tmje_`. Only the handful tiermem calls are declared here; the flag
// encodings match <jemalloc/jemalloc.h> 5.x, which is not included because it would declare
// the unprefixed malloc/free.
#pragma once
#include <cstddef>

// Declared hidden: the most constraining visibility wins at link time, so even these stay
// out of libtiermem.so's dynamic symbol table.
extern "C" {
#pragma GCC visibility push(hidden)
void *tmje_malloc(std::size_t size);
void tmje_free(void *ptr);
void *tmje_mallocx(std::size_t size, int flags);
void *tmje_rallocx(void *ptr, std::size_t size, int flags);
void tmje_dallocx(void *ptr, int flags);
void tmje_sdallocx(void *ptr, std::size_t size, int flags);
std::size_t tmje_sallocx(const void *ptr, int flags);
std::size_t tmje_nallocx(std::size_t size, int flags);
int tmje_mallctl(const char *name, void *oldp, std::size_t *oldlenp, void *newp,
                 std::size_t newlen);
#pragma GCC visibility pop
}

namespace tiermem::heap::je {

inline constexpr int arena(unsigned a) { return static_cast<int>((a + 1) << 20); }
inline constexpr int tcache(unsigned tc) { return static_cast<int>((tc + 2) << 8); }
inline constexpr int tcache_none = static_cast<int>((-1 + 2) << 8);
inline constexpr int zero = 0x40;
inline constexpr int tcache_mask = 0xfff00;
inline constexpr int arena_mask = static_cast<int>(0xfff00000u);
/** Flags that name no tcache: the call uses the thread's automatic one. */
inline constexpr bool automatic_tcache(int flags) { return (flags & tcache_mask) == 0; }
inline int lg_align(std::size_t align) { return __builtin_ctzl(align); }

}  // namespace tiermem::heap::je
