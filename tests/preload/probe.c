/* preload_probe MODE: exercises the malloc family the way programs do; run under
 * libtiermem_preload.so by preload_tests. Prints "ok MODE" and exits 0 when every check
 * holds, else names the failed check and exits 1. Needs no tiermem header: an unmodified
 * program. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

void *__libc_malloc(size_t);

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "probe: check failed at line %d: %s\n", __LINE__, #cond); \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

/* Whether p lies in a mapping whose /proc/self/maps line contains `tag`. */
static int in_mapping(const void *p, const char *tag) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[512];
  int found = 0;
  uintptr_t a = (uintptr_t)p;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi && strstr(line, tag)) found = 1;
  }
  fclose(f);
  return found;
}

static void edge(void) {
  void *z = malloc(0); /* glibc: a unique pointer that can be freed */
  CHECK(z != NULL);
  void *z2 = malloc(0);
  CHECK(z2 != NULL && z2 != z);
  free(z);
  free(z2);
  free(NULL);

  char *p = realloc(NULL, 100);
  CHECK(p != NULL);
  memset(p, 7, 100);
  p = realloc(p, 100000);
  CHECK(p != NULL && p[99] == 7);
  p = realloc(p, 10);
  CHECK(p != NULL && p[9] == 7);
  CHECK(malloc_usable_size(p) >= 10);
  CHECK(malloc_usable_size(NULL) == 0);
  errno = 0;
  CHECK(realloc(p, 0) == NULL); /* frees p */

  int *c = calloc(1000, sizeof(int));
  CHECK(c != NULL);
  for (int i = 0; i < 1000; ++i) CHECK(c[i] == 0);
  free(c);
  errno = 0;
  volatile size_t huge = SIZE_MAX / 2; /* volatile: the compiler must not see the overflow */
  CHECK(calloc(huge, 4) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(reallocarray(NULL, huge, 4) == NULL && errno == ENOMEM);
  void *ra = reallocarray(NULL, 10, 10);
  CHECK(ra != NULL);
  free(ra);
  errno = 0;
  CHECK(malloc(huge * 2 - 4096) == NULL && errno == ENOMEM);

  void *a = NULL;
  CHECK(posix_memalign(&a, 3, 16) == EINVAL);
  CHECK(posix_memalign(&a, 4096, 100) == 0 && ((uintptr_t)a & 4095) == 0);
  free(a);
  for (size_t al = 8; al <= (1u << 21); al <<= 1) {
    void *q = aligned_alloc(al, al * 2);
    CHECK(q != NULL && ((uintptr_t)q & (al - 1)) == 0);
    free(q);
  }
  void *odd = aligned_alloc(3, 16); /* glibc 2.36 rounds the alignment up to 4 */
  CHECK(odd != NULL && ((uintptr_t)odd & 3) == 0);
  free(odd);
  void *m = memalign(64, 1000);
  CHECK(m != NULL && ((uintptr_t)m & 63) == 0);
  free(m);
  long page = sysconf(_SC_PAGESIZE);
  void *v = valloc(10);
  CHECK(v != NULL && ((uintptr_t)v & (page - 1)) == 0);
  free(v);
  void *pv = pvalloc(10);
  CHECK(pv != NULL && ((uintptr_t)pv & (page - 1)) == 0 && malloc_usable_size(pv) >= (size_t)page);
  free(pv);
}

/* Every block lands in the emulated tier's memfd mapping (TIERMEM_POLICY=emulated:NAME). */
static void where(const char *tag) {
  for (size_t n = 1; n <= (1u << 22); n *= 4) {
    void *p = malloc(n);
    CHECK(p != NULL);
    if (!in_mapping(p, tag)) {
      fprintf(stderr, "probe: malloc(%zu) = %p is not in a '%s' mapping\n", n, p, tag);
      exit(1);
    }
    free(p);
  }
}

/* A block glibc allocated goes back to glibc: free and realloc must not corrupt either heap. */
static void foreign(void) {
  for (int i = 0; i < 1000; ++i) {
    char *g = __libc_malloc(64 + i);
    memset(g, 0x5a, 64 + i);
    if (i % 2) {
      free(g);
    } else {
      char *r = realloc(g, 200 + i); /* moves into tiermem, keeps the bytes */
      CHECK(r != NULL && r[63] == 0x5a);
      free(r);
    }
  }
}

struct job {
  unsigned seed;
  int failed;
  int iterations;
};

static void *churn(void *arg) {
  struct job *j = arg;
  enum { N = 512 };
  unsigned char *blk[N] = {0};
  size_t len[N] = {0};
  for (int it = 0; it < j->iterations; ++it) {
    unsigned r = rand_r(&j->seed);
    int i = r % N;
    if (blk[i]) {
      for (size_t k = 0; k < len[i]; k += 97)
        if (blk[i][k] != (unsigned char)(i + len[i])) j->failed = 1;
      if (r & 0x100) {
        size_t n = 1 + (r >> 9) % 20000;
        unsigned char *q = realloc(blk[i], n);
        if (!q) { j->failed = 1; continue; }
        size_t keep = n < len[i] ? n : len[i];
        for (size_t k = 0; k < keep; k += 97)
          if (q[k] != (unsigned char)(i + len[i])) j->failed = 1;
        blk[i] = q;
        len[i] = n;
        memset(q, (unsigned char)(i + n), n);
      } else {
        free(blk[i]);
        blk[i] = NULL;
      }
    } else {
      size_t n = 1 + (r >> 9) % ((r & 0x200) ? 200000 : 256);
      blk[i] = (r & 0x400) ? calloc(1, n) : malloc(n);
      if (!blk[i]) { j->failed = 1; continue; }
      len[i] = n;
      memset(blk[i], (unsigned char)(i + n), n);
    }
  }
  for (int i = 0; i < N; ++i) free(blk[i]);
  return NULL;
}

static void threads(void) {
  enum { T = 4 };
  pthread_t th[T];
  struct job jobs[T];
  for (int i = 0; i < T; ++i) {
    jobs[i].seed = 1234u + i;
    jobs[i].failed = 0;
    jobs[i].iterations = 200000;
    CHECK(pthread_create(&th[i], NULL, churn, &jobs[i]) == 0);
  }
  for (int i = 0; i < T; ++i) {
    pthread_join(th[i], NULL);
    CHECK(!jobs[i].failed);
  }
}

static void forks(void) {
  char *before = malloc(1000);
  memset(before, 1, 1000);
  for (int i = 0; i < 20; ++i) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      /* The child keeps using the inherited heap, frees the parent's block, allocates. */
      CHECK(before[999] == 1);
      free(before);
      struct job j = {.seed = (unsigned)i, .failed = 0, .iterations = 20000};
      churn(&j);
      if (i % 5 == 0) execl("/bin/true", "true", (char *)NULL);
      _exit(j.failed);
    }
    /* The parent allocates concurrently with the child. */
    void *x = malloc(5000);
    free(x);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  free(before);
}

/* Many forks while four other threads allocate and free 16 B - 4 KiB without pause: some
 * allocator lock is then often held at the moment of a fork. Each child allocates BLOCKS
 * (default 10 000) x 1000 B, checks them and exits 16; a child that hangs (an inherited held lock) is ended by
 * its alarm, and one that crashes is counted. Before the heap's fork handlers were
 * registered ahead of the private jemalloc's under the preload library, 3 of 5 runs on an
 * emulated tier hung and the rest lost children to SIGSEGV. */
static volatile int stop_churn;
static void *churn_until_stopped(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *keep[64] = {0};
  while (!stop_churn) {
    int i = rand_r(&seed) % 64;
    free(keep[i]);
    size_t n = 16 + (size_t)rand_r(&seed) % 4081;
    keep[i] = malloc(n);
    if (keep[i]) memset(keep[i], 1, n < 64 ? n : 64);
  }
  for (int i = 0; i < 64; ++i) free(keep[i]);
  return NULL;
}

/* BLOCKS x 1000 B, checked: 16 when all is well. */
static int thousand_byte_blocks(int blocks) {
  static char *blk[10000];
  for (int i = 0; i < blocks; ++i) {
    blk[i] = malloc(1000);
    if (!blk[i]) return 3;
    memset(blk[i], (unsigned char)i, 1000);
  }
  for (int i = 0; i < blocks; ++i)
    if (blk[i][0] != (char)(unsigned char)i || blk[i][999] != (char)(unsigned char)i) return 4;
  for (int i = 0; i < blocks; ++i) free(blk[i]);
  return 16;
}

/* FORKS children of a process whose T other threads churn, each child running body(arg) and
 * exiting with its result (16 is success). */
static void fork_under_churn(int (*body)(int), int arg) {
  enum { T = 4, FORKS = 20 };
  pthread_t th[T];
  stop_churn = 0;
  for (int i = 0; i < T; ++i)
    CHECK(pthread_create(&th[i], NULL, churn_until_stopped, (void *)(uintptr_t)(i + 1)) == 0);
  int hung = 0, crashed = 0, failed = 0;
  for (int f = 0; f < FORKS; ++f) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(20);
      _exit(body(arg));
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) ++hung;
    else if (WIFSIGNALED(st)) ++crashed;
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 16) ++failed;
  }
  stop_churn = 1;
  for (int i = 0; i < T; ++i) pthread_join(th[i], NULL);
  if (hung || crashed || failed) {
    fprintf(stderr, "probe: of %d children %d hung, %d crashed, %d failed their checks\n", FORKS,
            hung, crashed, failed);
    exit(1);
  }
}

/* A child's devdax tier is what the parent had mapped at the fork (the parent keeps the
 * device; the child cannot grow it). Without room made first, that was the tier's first
 * 2 MiB extent, which the four churning threads' slabs and caches could fill at the moment of
 * a fork: 1 child in 20 of one CI run found no 1 KiB block ("its limit of 2097152 bytes is
 * reached"). A 4 MiB block taken and freed before the threads start leaves the children room. */
static void forkthreads(int blocks) {
  free(malloc(4 << 20));
  fork_under_churn(thousand_byte_blocks, blocks);
}

/* One block grown by realloc from 4 KiB to MIB MiB, doubling, each 4 KiB page filled with its
 * own value and every page checked after each move: 16 when all is well, 3 when realloc
 * failed, 4 when a byte changed. Past a small first tier the block must move to the policy's
 * next tier, not fail (Python's list growth under interleave(rank:0, emulated:slow) failed
 * this way with MemoryError). */
static unsigned char page_value(size_t page) { return (unsigned char)(page * 31 + 7); }
static int grow_block(int mib) {
  const size_t page = 4096, max = (size_t)mib << 20;
  size_t n = page;
  unsigned char *b = malloc(n);
  if (!b) return 3;
  memset(b, page_value(0), page);
  while (n < max) {
    unsigned char *q = realloc(b, 2 * n);
    if (!q) {
      fprintf(stderr, "probe: realloc to %zu bytes failed\n", 2 * n);
      return 3;
    }
    for (size_t i = 0; i < n; i += page)
      if (q[i] != page_value(i / page) || q[i + page - 1] != page_value(i / page)) return 4;
    for (size_t i = n; i < 2 * n; i += page) memset(q + i, page_value(i / page), page);
    b = q;
    n *= 2;
  }
  free(b);
  return 16;
}

/* grow_block() in the process, then in children forked while threads allocate. */
static void grow(int mib) {
  int rc = grow_block(mib);
  if (rc != 16) {
    fprintf(stderr, "probe: growing a block to %d MiB failed (%d)\n", mib, rc);
    exit(1);
  }
  fork_under_churn(grow_block, mib);
}

/* malloc(64) until the bound tier is full: NULL with ENOMEM, never a crash; after freeing,
 * the tier serves again. */
static void fill(void) {
  enum { MAX = 1 << 20 };
  static void *blk[MAX];
  int n = 0;
  errno = 0;
  while (n < MAX && (blk[n] = malloc(64)) != NULL) memset(blk[n++], 0xab, 64);
  CHECK(n < MAX);   /* the tier did fill up */
  CHECK(n > 1000);  /* and served many blocks first */
  CHECK(errno == ENOMEM);
  CHECK(malloc(64) == NULL); /* still full: a second failure, reported no more */
  for (int i = 0; i < n; ++i) free(blk[i]);
  void *again = malloc(64);
  CHECK(again != NULL);
  free(again);
  fprintf(stderr, "probe: %d blocks of 64 bytes before the tier was full\n", n);
}

/* Whether the process holds a mapping of 64 GiB or more (the heap's slot reservation), read
 * with system calls alone: no stdio, no malloc. */
/* decay kept|returned: 16 blocks of 1 MiB written and freed; right after the frees their pages
 * are either all still resident (TIERMEM_DECAY_MS=1000 keeps freed pages for a second) or none
 * is (the preload library's default, 0, returns them at once). mincore reads the old ranges, which the tier's
 * slot keeps mapped. */
static void decay(const char *expect) {
  enum { kBlocks = 16, kBlock = 1 << 20 };
  const long page = sysconf(_SC_PAGESIZE);
  void *b[kBlocks];
  for (int i = 0; i < kBlocks; ++i) {
    b[i] = malloc(kBlock);
    CHECK(b[i] != NULL);
    memset(b[i], 0x5a, kBlock);
  }
  for (int i = 0; i < kBlocks; ++i) free(b[i]);
  long resident = 0;
  for (int i = 0; i < kBlocks; ++i) {
    /* the whole pages inside the block */
    uintptr_t lo = ((uintptr_t)b[i] + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)b[i] + kBlock) & ~(uintptr_t)(page - 1);
    unsigned char vec[(kBlock >> 12) + 1];
    CHECK(mincore((void *)lo, hi - lo, vec) == 0);
    for (uintptr_t k = 0; k < (hi - lo) / page; ++k) resident += (vec[k] & 1) ? page : 0;
  }
  const long inside = (long)kBlocks * (kBlock - page);
  if (!strcmp(expect, "kept")) {
    if (resident < inside) fprintf(stderr, "probe: %ld of %ld freed bytes still resident\n", resident, inside);
    CHECK(resident >= inside);
  } else {
    if (resident != 0) fprintf(stderr, "probe: %ld freed bytes still resident\n", resident);
    CHECK(resident == 0);
  }
}

static int has_heap_reservation(void) {
  static char buf[1 << 16];
  int fd = open("/proc/self/maps", O_RDONLY);
  if (fd < 0) _exit(3);
  size_t len = 0;
  ssize_t r;
  while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
  close(fd);
  buf[len] = '\0';
  for (char *line = buf; *line;) {
    char *end = strchr(line, '\n');
    unsigned long lo = strtoul(line, NULL, 16), hi = strtoul(strchr(line, '-') + 1, NULL, 16);
    if (hi - lo >= (64UL << 30)) return 1;
    if (!end) break;
    line = end + 1;
  }
  return 0;
}

/* A program that allocates nothing must not pay for a heap: no reservation, no jemalloc. */
static void nomalloc(void) {
  if (has_heap_reservation()) {
    static const char msg[] = "probe: the heap was opened in a program that never allocated\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
  }
  void *p = malloc(1); /* the first allocation opens it */
  CHECK(p != NULL && has_heap_reservation());
  free(p);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: preload_probe edge|where TAG|foreign|threads|fork|forkthreads [BLOCKS]|grow MIB|fill|nomalloc|decay kept|returned\n");
    return 2;
  }
  const char *mode = argv[1];
  if (!strcmp(mode, "edge")) edge();
  else if (!strcmp(mode, "where") && argc > 2) where(argv[2]);
  else if (!strcmp(mode, "foreign")) foreign();
  else if (!strcmp(mode, "threads")) threads();
  else if (!strcmp(mode, "fork")) forks();
  else if (!strcmp(mode, "grow"))
    grow(argc > 2 && atoi(argv[2]) > 0 && atoi(argv[2]) <= 1024 ? atoi(argv[2]) : 64);
  else if (!strcmp(mode, "forkthreads"))
    forkthreads(argc > 2 && atoi(argv[2]) > 0 && atoi(argv[2]) <= 10000 ? atoi(argv[2]) : 10000);
  else if (!strcmp(mode, "fill")) fill();
  else if (!strcmp(mode, "nomalloc")) nomalloc();
  else if (!strcmp(mode, "decay") && argc > 2 && (!strcmp(argv[2], "kept") || !strcmp(argv[2], "returned")))
    decay(argv[2]);
  else { fprintf(stderr, "probe: unknown mode %s\n", mode); return 2; }
  printf("ok %s\n", mode);
  return 0;
}
