// libtiermem_preload.so: the malloc family of an unmodified program, served by tiermem.
//
// Every allocation goes where TIERMEM_POLICY says (the policy grammar, src/policy/policy.hpp). Pointers tiermem
// did not give out are recognised by address (tm_tier_of) and handed to their real owner:
// the *next* malloc in the process's lookup order (glibc's, or another allocator the program
// links, such as Debian's redis-server with libjemalloc, whose operator new bypasses malloc).
//
// Bootstrap without recursion: tiermem's own code allocates (policy text, topology), and
// those calls come back here. A thread-local flag sends them to the next allocator, found once
// with dlsym(RTLD_NEXT); while dlsym itself runs, a small static arena serves any request.
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <cstdio>
#include <exception>
#include <string>

#include "api/heap_api.hpp"
#include "tiermem/tiermem.h"
#include "api/settings.hpp"

namespace {

// The allocator below us. Filled by resolve_next() before anything else runs.
struct Next {
  void *(*malloc)(size_t) = nullptr;
  void (*free)(void *) = nullptr;
  void *(*calloc)(size_t, size_t) = nullptr;
  void *(*realloc)(void *, size_t) = nullptr;
  void *(*memalign)(size_t, size_t) = nullptr;
  size_t (*usable)(void *) = nullptr;
};
Next g_next;

// Static arena for requests made while dlsym resolves the next allocator (dlsym may allocate).
// Its blocks are never freed; each carries its size for realloc.
alignas(64) unsigned char g_boot[64 * 1024];
std::atomic<size_t> g_boot_used{0};

bool from_boot(const void *p) {
  auto *c = static_cast<const unsigned char *>(p);
  return c >= g_boot && c < g_boot + sizeof g_boot;
}

void *boot_alloc(size_t n, size_t align = 16) {
  if (align < 16) align = 16;
  size_t need = n + align + 16;
  size_t off = g_boot_used.fetch_add(need);
  if (off + need > sizeof g_boot) return nullptr;
  uintptr_t base = reinterpret_cast<uintptr_t>(g_boot + off) + 16;
  uintptr_t p = (base + align - 1) & ~(align - 1);
  reinterpret_cast<size_t *>(p)[-1] = n;
  return reinterpret_cast<void *>(p);
}

size_t boot_size(const void *p) { return static_cast<const size_t *>(p)[-1]; }

std::atomic<int> g_resolving{0};

template <class F>
void sym(F &out, const char *name) {
  out = reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

void resolve_next() {
  if (g_next.free != nullptr) return;
  g_resolving.store(1);
  Next n;
  sym(n.malloc, "malloc");
  sym(n.free, "free");
  sym(n.calloc, "calloc");
  sym(n.realloc, "realloc");
  sym(n.memalign, "memalign");
  sym(n.usable, "malloc_usable_size");
  if (!n.malloc || !n.free || !n.calloc || !n.realloc || !n.memalign) {
    const char msg[] = "tiermem: the preload library found no malloc below it; is libc loaded?\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  g_next = n;
  g_resolving.store(0);
}

// Before the next allocator is known: the arena. After: the next allocator.
void *next_malloc(size_t n) {
  if (__builtin_expect(g_next.malloc == nullptr, 0)) {
    if (g_resolving.load()) return boot_alloc(n);
    resolve_next();
  }
  return g_next.malloc(n);
}

void *next_calloc(size_t count, size_t n) {
  if (__builtin_expect(g_next.calloc == nullptr, 0)) {
    size_t bytes;
    if (__builtin_mul_overflow(count, n, &bytes)) return nullptr;
    if (g_resolving.load()) return boot_alloc(bytes);  // static storage starts zeroed
    resolve_next();
  }
  return g_next.calloc(count, n);
}

void *next_memalign(size_t align, size_t n) {
  if (__builtin_expect(g_next.memalign == nullptr, 0)) {
    if (g_resolving.load()) return boot_alloc(n, align);
    resolve_next();
  }
  return g_next.memalign(align, n);
}

void *next_realloc(void *p, size_t n) {
  if (g_next.realloc == nullptr) resolve_next();
  return g_next.realloc(p, n);
}

void next_free(void *p) {
  if (from_boot(p)) return;
  if (g_next.free == nullptr) resolve_next();
  g_next.free(p);
}

// At load the environment and the policy are checked (init); the heap itself opens at the
// program's first allocation (open_heap), so a program that allocates nothing, such as
// /bin/true, never starts jemalloc, reserves no address space and takes none of its page
// faults, while a bad policy still stops every program before main.
enum State : int { kUninit = 0, kChecking = 1, kChecked = 2, kOpening = 3, kReady = 4 };
std::atomic<int> g_state{kUninit};
tm_policy *g_policy = nullptr;
bool g_stats = false;
int g_log = 1;  // 0 quiet, 1 error, 2 info
long g_decay = 0;
// TIERMEM_POLICY as init() checked it, opened as such even if the program changes its
// environment before it allocates. Immortal: exit handlers may still open the heap.
const std::string *g_policy_text = nullptr;

// Initial-exec is right here: this library is preloaded, so its TLS is always in the static
// block (it is never dlopen()ed later), and the flag is read on every call.
thread_local bool t_inside [[gnu::tls_model("initial-exec")]] = false;

struct Inside {
  Inside() { t_inside = true; }
  ~Inside() { t_inside = false; }
};

void say(const std::string &line) {
  std::string l = line + "\n";
  (void)!::write(STDERR_FILENO, l.data(), l.size());
}

[[noreturn]] void refuse(const std::string &line) {
  say(line);
  ::_exit(127);
}

void report_out_of_memory() noexcept;  // the policy failure hook, below

void open_heap();

void print_stats() {
  if (!g_stats) return;
  // A program that never allocated still reports its policy's tiers (all zero): the heap
  // opens now, only because statistics were asked for.
  if (g_state.load(std::memory_order_acquire) == kChecked) open_heap();
  Inside in;
  char *json = tm_stats_json();
  if (json) {
    say(std::string("tiermem: stats ") + json);
    ::free(json);  // our own free: the JSON came from glibc while inside
  }
}

// Why the policy was refused, naming TIERMEM_POLICY when the user set it.
std::string policy_error(const char *text) {
  std::string why = tm_last_error();
  if (text && *text && why.find("TIERMEM_POLICY") == std::string::npos)
    why += " (from TIERMEM_POLICY='" + std::string(text) + "')";
  return why;
}

// Whether the policy must be checked against the machine at load. The default policy,
// bind(rank:0), names the fastest tier, which every machine has: checking it would only read
// the topology for nothing in every process that never allocates (the first allocation reads
// it anyway). A policy the user wrote, or a machine the environment reshapes (an emulated
// tier, a recorded sysfs tree), is checked now.
bool must_check(const char *policy) {
  auto set = [](const char *name) {
    const char *v = ::secure_getenv(name);
    return v != nullptr && *v != '\0';
  };
  return (policy != nullptr && *policy != '\0') || set("TIERMEM_EMULATE") || set("TIERMEM_FSROOT");
}

// Reads the environment once and checks the policy against the machine without opening it.
// A bad value stops the program now, with one line, rather than running it with a placement
// it did not ask for. secure_getenv: ignored for set-id programs.
void init() {
  int expected = kUninit;
  if (!g_state.compare_exchange_strong(expected, kChecking)) return;
  resolve_next();
  Inside in;
  // The same parsers as the launcher's (api/settings.hpp), so what `tiermem run` accepts
  // runs here too.
  try {
    g_log = static_cast<int>(tiermem::api::env_log_level());
    g_stats = tiermem::api::env_stats();
    // Return freed pages at once, as glibc's trimming does: an unmodified program is judged by
    // its peak RSS against glibc's, and a tier's capacity is better spent on live data.
    // Measured: any decay above 0 (10 ms to 1 s) raised a python3 workload's peak from 1.06x
    // to 1.10-1.20x of glibc's; it would spare `git log -p` its refaults (1.44x -> 1.28x of
    // plain). Programs that start often can set TIERMEM_DECAY_MS themselves.
    g_decay = tiermem::api::env_decay_ms().value_or(0);
    tiermem::api::env_thp();  // applied as the policy's node tiers open
  } catch (const std::exception &e) {
    refuse(e.what());
  }
  const char *text = ::secure_getenv("TIERMEM_POLICY");
  if (must_check(text) && tm_policy_check(text && *text ? text : "bind(rank:0)") != 0)
    refuse(policy_error(text) + "; the program was not started");
  g_policy_text = std::make_unique<std::string>(text ? text : "").release();
  if (g_stats) ::atexit(print_stats);
  g_state.store(kChecked, std::memory_order_release);
}

// The program's first allocation: the heap starts and the policy's tiers open. What can
// still fail here (a device another process holds, say) stops the program as init() does.
[[gnu::noinline, gnu::cold]] void open_heap() {
  int expected = kChecked;
  if (!g_state.compare_exchange_strong(expected, kOpening)) return;
  Inside in;
  if (tm_set_decay_ms(g_decay) != 0) refuse(std::string(tm_last_error()) + " (TIERMEM_DECAY_MS)");
  const char *text = g_policy_text->c_str();
  tm_policy *p = *text ? tm_policy_parse(text) : tm_policy_default();
  if (p == nullptr) refuse(policy_error(text) + "; the program was stopped at its first allocation");
  g_policy = p;
  if (g_log >= 2) say(std::string("tiermem: preload policy ") + tm_policy_text(p));
  tiermem::api::set_policy_failure_hook(report_out_of_memory);
  g_state.store(kReady, std::memory_order_release);
}

extern "C" char __ehdr_start;  // this library's first and last byte of code (the linker's)
extern "C" char etext;

// Code of this library, its private libstdc++ included. That libstdc++'s emergency exception
// pool is allocated by a constructor as the library loads: left to open the heap, it made
// every preloaded process, even one that never allocates, start jemalloc.
inline bool from_self(const void *caller) {
  return caller >= &__ehdr_start && caller < &etext;
}

// `caller`: the allocation's return address, asked only until the heap is open.
inline bool ready(const void *caller = nullptr) {
  int s = g_state.load(std::memory_order_acquire);
  if (__builtin_expect(s == kReady, 1)) return !t_inside;
  if (t_inside || from_self(caller)) return false;
  if (s == kUninit) init();
  // Another thread opening the heap meanwhile: this request goes to the allocator below, as
  // requests made while the library itself starts do.
  if (g_state.load(std::memory_order_acquire) == kChecked) open_heap();
  return g_state.load(std::memory_order_acquire) == kReady && !t_inside;
}

inline bool ours(const void *p) { return p != nullptr && tm_tier_of(p) != nullptr; }

// A request the policy's tiers cannot serve: NULL with ENOMEM, as glibc's malloc, and the
// heap's one-line reason on stderr the first time (a program that runs out on its tier should
// learn why, but one that probes with huge requests should not fill its log). Allocates
// nothing: the allocator that just failed is this one.
// The report is also the heap's hook for policy failures (set in open_heap), so that malloc
// itself can end in a jump to tm_policy_malloc.
std::atomic<bool> g_said_oom{false};
void report_out_of_memory() noexcept {
  if (g_log >= 1 && !g_said_oom.exchange(true, std::memory_order_relaxed)) {
    const char *why = tm_last_error();
    static const char kTail[] = "; further allocation failures are not reported\n";
    (void)!::write(STDERR_FILENO, why, ::strlen(why));
    (void)!::write(STDERR_FILENO, kTail, sizeof kTail - 1);
  }
}
[[gnu::noinline, gnu::cold]] void *out_of_memory() noexcept {
  report_out_of_memory();
  errno = ENOMEM;
  return nullptr;
}

void *alloc_aligned(size_t align, size_t n) {
  if (!ready()) return next_memalign(align, n);
  void *p = tm_policy_aligned_alloc(g_policy, align, n);
  return p != nullptr ? p : out_of_memory();
}

// malloc for the program, `caller` its return address (see from_self).
[[gnu::noinline]] void *program_malloc_starting(size_t n, const void *caller) {
  if (!ready(caller)) return next_malloc(n);
  return tm_policy_malloc(g_policy, n);
}
// The ready case first, whose only call is a jump to tm_policy_malloc (a failure is reported
// by the hook): malloc keeps no frame of its own.
inline void *program_malloc(size_t n, const void *caller) {
  if (__builtin_expect(g_state.load(std::memory_order_acquire) == kReady && !t_inside, 1)) {
    return tm_policy_malloc(g_policy, n);
  }
  return program_malloc_starting(n, caller);
}

// free() of a pointer no fast slot of this thread holds (see FreeRoute::other): a block of
// ours is freed by its tier, any other goes to the allocator below.
[[gnu::noinline]] void free_other(void *p) {
  if (p == nullptr) return;
  if (!tiermem::api::free_owned_slow(p)) next_free(p);
}

__attribute__((constructor(101))) void preload_ctor() {
  if (!t_inside) init();
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void *malloc(size_t n) {
  return program_malloc(n, __builtin_return_address(0));
}

__attribute__((visibility("default"))) void free(void *p) {
  unsigned slot = 0;
  int flags = 0;
  // Each route ends in a jump (see free_route): this free keeps no frame of its own.
  switch (tiermem::api::free_route(p, slot, flags)) {
    case tiermem::api::FreeRoute::plain:
      tmje_free(p);
      return;
    case tiermem::api::FreeRoute::slot:
      tiermem::heap::release_fast(slot, p, flags);
      return;
    case tiermem::api::FreeRoute::other:
      free_other(p);
      return;
  }
}

__attribute__((visibility("default"))) void *calloc(size_t count, size_t n) {
  if (!ready(__builtin_return_address(0))) return next_calloc(count, n);
  size_t bytes;
  if (__builtin_mul_overflow(count, n, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (void *p = tm_policy_calloc(g_policy, count, n)) return p;
  return out_of_memory();
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n) {
  if (p == nullptr) return program_malloc(n, nullptr);
  if (ours(p)) {
    if (n == 0) {  // glibc frees and returns NULL
      tm_free(p);
      return nullptr;
    }
    // TIERMEM_POLICY's tiers, not only p's own: a block that grows on a full tier moves to
    // the next tier the policy names, as a new malloc would go there.
    void *q = tm_policy_realloc(g_policy, p, n);
    return q != nullptr ? q : out_of_memory();
  }
  if (from_boot(p)) {  // an arena block: copy it out, the arena keeps its bytes
    void *q = program_malloc(n, nullptr);
    if (q) ::memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
    return q;
  }
  if (!ready()) return next_realloc(p, n);
  if (n == 0) {
    next_free(p);
    return nullptr;
  }
  // A block of the allocator below grows into the policy's tier: the data moves to where
  // the program asked for it.
  size_t old = g_next.usable ? g_next.usable(p) : 0;
  if (old == 0) return next_realloc(p, n);  // size unknown: leave the block with its owner
  void *q = program_malloc(n, nullptr);
  if (!q) return nullptr;
  ::memcpy(q, p, old < n ? old : n);
  next_free(p);
  return q;
}

__attribute__((visibility("default"))) void *reallocarray(void *p, size_t count, size_t n) {
  size_t bytes;
  if (__builtin_mul_overflow(count, n, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, bytes);
}

__attribute__((visibility("default"))) int posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  int saved = errno;
  void *p = alloc_aligned(align, n);
  if (!p) return ENOMEM;
  errno = saved;
  *out = p;
  return 0;
}

__attribute__((visibility("default"))) void *memalign(size_t align, size_t n);

// Debian 12's glibc (2.36) treats aligned_alloc as memalign: an alignment that is not a power
// of two is rounded up, not refused. Programs tested against it expect the same here.
__attribute__((visibility("default"))) void *aligned_alloc(size_t align, size_t n) {
  return memalign(align, n);
}

__attribute__((visibility("default"))) void *memalign(size_t align, size_t n) {
  // glibc rounds a non-power-of-two alignment up rather than failing.
  if (align == 0) align = 1;
  if (align & (align - 1)) align = size_t{1} << (64 - __builtin_clzl(align));
  return alloc_aligned(align, n);
}

__attribute__((visibility("default"))) void *valloc(size_t n) {
  return alloc_aligned(static_cast<size_t>(::sysconf(_SC_PAGESIZE)), n);
}

__attribute__((visibility("default"))) void *pvalloc(size_t n) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t rounded;
  if (__builtin_add_overflow(n, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded &= ~(page - 1);
  return alloc_aligned(page, rounded == 0 ? page : rounded);
}

__attribute__((visibility("default"))) size_t malloc_usable_size(void *p) {
  if (p == nullptr) return 0;
  if (ours(p)) return tm_usable_size(p);
  if (from_boot(p)) return boot_size(p);
  if (g_next.usable == nullptr) resolve_next();
  return g_next.usable ? g_next.usable(p) : 0;
}

}  // extern "C"
