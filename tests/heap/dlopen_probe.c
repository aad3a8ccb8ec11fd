/* Loads libtiermem with dlopen() from a program that does not link it, then allocates on an
 * emulated tier through dlsym'd functions. Prints "ok" or "dlopen failed: <dlerror>". */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    printf("dlopen failed: %s\n", dlerror());
    return 1;
  }
  void *(*find)(const char *) = (void *(*)(const char *))dlsym(h, "tm_tier_find");
  void *(*tmalloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(h, "tm_malloc");
  void (*tfree)(void *) = (void (*)(void *))dlsym(h, "tm_free");
  void *tier = find ? find("emulated:slow") : NULL;
  char *p = tier ? tmalloc(tier, 100) : NULL;
  if (p == NULL) {
    printf("allocation failed\n");
    return 1;
  }
  memset(p, 7, 100);
  tfree(p);
  printf("ok\n");
  return 0;
}
