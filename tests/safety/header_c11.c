/* The public header compiles as strict ISO C11, without POSIX feature macros: C programs
 * include tiermem.h as they are. Built, not run; a compile error fails the build. */
#include <tiermem/tiermem.h>

size_t tiermem_c11_copy(void *dst, const void *src, size_t n);
size_t tiermem_c11_copy(void *dst, const void *src, size_t n) {
  tm_poison_range r;
  (void)tm_poison_get(0, &r);
  return tm_copy_mc(dst, src, n);
}
