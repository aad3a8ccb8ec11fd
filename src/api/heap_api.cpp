// The C ABI of the heap (include/tiermem/heap.h). Hot paths (tm_malloc, tm_free, ...) are a
// slot lookup or a thread-local read plus one jemalloc call; only failures build messages.
// Statistics are in stats_api.cpp.
#include "api/heap_api.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "api/error.hpp"
#include "api/heap_poison.hpp"
#include "api/tier_options.hpp"
#include "api/machine.hpp"
#include "api/migration.hpp"
#include "api/policy_check.hpp"
#include "policy/policy.hpp"
#include "tiermem/tiermem.h"

struct tm_policy {
  tiermem::policy::Policy ast;
  std::string text;
  // In place, not behind a pointer: the fast path reads the pick's tier from the policy
  // itself (one dependent load less on every tm_policy_malloc).
  std::optional<tiermem::policy::Selector> selector;
};

namespace {

using namespace tiermem;

template <class T>
T *fail_null(int code, const std::string &message) noexcept {
  api::set_last_error(code, message);
  errno = -code;
  return nullptr;
}

// Failure paths allocate nothing (see heap::failure_message), and stay out of line so that
// their buffers are no part of the allocation functions' frames.
[[gnu::noinline, gnu::cold]] void *out_of_memory(tm_tier *tier, std::size_t n) noexcept {
  heap::count_failure(tier);
  char msg[480];
  heap::failure_message(tier, n, msg, sizeof msg);
  api::set_last_error(-ENOMEM, msg);
  errno = ENOMEM;
  return nullptr;
}

std::atomic<api::PolicyFailureHook> g_failure_hook{nullptr};

[[gnu::noinline, gnu::cold]] void *policy_out_of_memory(const tm_policy *pol, void *const *cands,
                                                        std::size_t k, std::size_t n,
                                                        const char *call) noexcept {
  char last[400] = "none of its tiers was tried";
  if (k > 0) heap::failure_message(static_cast<tm_tier *>(cands[k - 1]), n, last, sizeof last);
  char msg[512];
  std::snprintf(msg, sizeof msg,
                "tiermem: %s: no tier of policy '%s' can allocate %zu bytes (last: %s)", call,
                pol->text.c_str(), n, last);
  api::set_last_error(-ENOMEM, msg);
  if (api::PolicyFailureHook hook = g_failure_hook.load(std::memory_order_acquire)) hook();
  errno = ENOMEM;  // after the hook, which may write
  return nullptr;
}

std::string ptr_text(const void *p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

void *no_tier(const char *call) noexcept {
  return fail_null<void>(-EINVAL, std::string("tiermem: ") + call +
                                      "(NULL, ...): no tier; get one from tm_tier_find()");
}

int lg_align_or_fail(std::size_t align) noexcept {
  if (align == 0 || (align & (align - 1)) != 0) return -1;
  return heap::je::lg_align(align);
}

std::unique_ptr<tm_policy> make_policy(std::string_view text) {
  auto p = std::make_unique<tm_policy>();
  p->ast = policy::parse(text);
  p->text = policy::to_string(p->ast);
  if (p->ast.kind == policy::Policy::Kind::automatic) {
    // Checked before anything opens; then blocks go to SLOW, and the engine moves them.
    const api::AutoPlan plan = api::check_auto(p->ast, api::machine().topo);
    tm_tier *fast = api::find_tier(p->ast.tiers[0].spec);
    tm_tier *slow = api::find_tier(p->ast.tiers[1].spec);
    api::enable_auto(plan, p->text, fast, slow);
  }
  p->selector.emplace(policy::home_policy(p->ast), [](const policy::TierTerm &t) {
    tm_tier *tier = api::find_tier(t.spec);
    if (t.limit) heap::set_limit(tier, *t.limit > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(*t.limit));
    return static_cast<void *>(tier);
  });
  return p;
}

// A block of `n` (> 0) bytes on `t`; poison is checked only on a tier that had a memory error.
[[gnu::always_inline]] inline void *allocate_on(tm_tier *t, std::size_t n, int extra) noexcept {
  return __builtin_expect(t->poisoned.load(std::memory_order_relaxed), 0)
             ? api::allocate_checked(t, n, extra)
             : heap::allocate(t, n, extra);
}

// The default policy, published once built (see tm_policy_default).
std::atomic<tm_policy *> g_default{nullptr};

// A policy's first choice failed (`first`, already counted as a failure): the other
// candidates of the same pick in order, the tiers passed over counted as fallbacks. Out of
// line, so that its candidate array is no part of the fast path's frame.
[[gnu::noinline]] void *policy_alloc_rest(tm_policy *pol, policy::Selector::Pick pick,
                                          std::size_t n, int extra, const char *call) noexcept {
  void *cands[16];
  std::size_t k = policy::Selector::candidates_from(pick, cands, 16);
  heap::count_failure(static_cast<tm_tier *>(cands[0]));
  for (std::size_t i = 1; i < k; ++i) {
    auto *t = static_cast<tm_tier *>(cands[i]);
    void *p = allocate_on(t, n == 0 ? 1 : n, extra);
    if (p != nullptr) {
      for (std::size_t j = 0; j < i; ++j) {
        static_cast<tm_tier *>(cands[j])->fallbacks.fetch_add(1, std::memory_order_relaxed);
      }
      return p;
    }
    heap::count_failure(t);
  }
  return policy_out_of_memory(pol, cands, k, n, call);
}

// Policies of several tiers: the first choice on the fast path (a pick, then the tier's
// own fast path), the rest only when it is full.
[[gnu::always_inline]] inline void *policy_alloc_any(tm_policy *pol, std::size_t n, int extra,
                                                     const char *call) noexcept {
  const policy::Selector::Pick pick = pol->selector->pick(n);
  void *p = allocate_on(static_cast<tm_tier *>(pick.handle()), n == 0 ? 1 : n, extra);
  return __builtin_expect(p != nullptr, 1) ? p : policy_alloc_rest(pol, pick, n, extra, call);
}

[[gnu::noinline, gnu::cold]] void *one_tier_out_of_memory(tm_policy *pol, tm_tier *t,
                                                          std::size_t n,
                                                          const char *call) noexcept {
  heap::count_failure(t);
  void *cands[1] = {t};
  return policy_out_of_memory(pol, cands, 1, n, call);
}

[[gnu::noinline, gnu::cold]] tm_policy *default_or_null() noexcept { return tm_policy_default(); }

[[gnu::always_inline]] inline void *policy_alloc(tm_policy *pol, std::size_t n, int extra,
                                                 const char *call) noexcept {
  if (pol == nullptr) {
    pol = g_default.load(std::memory_order_acquire);
    if (__builtin_expect(pol == nullptr, 0)) {
      pol = default_or_null();
      if (pol == nullptr) return nullptr;
    }
  }
  // bind(T), or any policy of one tier: no candidate list, no counters.
  if (void *only = pol->selector->only()) {
    auto *t = static_cast<tm_tier *>(only);
    void *p = allocate_on(t, n == 0 ? 1 : n, extra);
    return __builtin_expect(p != nullptr, 1) ? p : one_tier_out_of_memory(pol, t, n, call);
  }
  return policy_alloc_any(pol, n, extra, call);
}

// heap::allocate()'s cases for a malloc (no flags) of `n` bytes on `t` (heap::small_case),
// told apart here so that a caller keeping no frame returns a block popped from the thread's
// Front for the tier with no call at all: `bound()` serves the thread's bound tier (jemalloc's plain malloc),
// `other()` everything else (a Front refill, a large block, a tier with a limit or poison,
// n == 0). Both are the caller's last act, so that it can jump to them.
template <class Bound, class Other>
[[gnu::always_inline]] inline void *malloc_cases(tm_tier *t, std::size_t n, Bound bound,
                                                 Other other) noexcept {
  if (__builtin_expect(!t->counted.load(std::memory_order_relaxed) &&
                           !t->poisoned.load(std::memory_order_relaxed),
                       1)) {
    switch (heap::small_case(t, n)) {
      case heap::SmallCase::bound:
        return bound();
      case heap::SmallCase::front:
        if (void *p = heap::front_pop(t->slot, n)) return p;
        break;
      case heap::SmallCase::other:
        break;
    }
  }
  return other();
}

// tm_malloc's two jumps (see malloc_cases).
[[gnu::noinline]] void *tier_malloc_bound(tm_tier *t, std::size_t n) noexcept {
  void *p = heap::allocate_bound(t, n);
  return __builtin_expect(p != nullptr, 1) ? p : out_of_memory(t, n);
}
[[gnu::noinline]] void *tier_malloc_on(tm_tier *t, std::size_t n) noexcept {
  void *p = allocate_on(t, n == 0 ? 1 : n, 0);
  return __builtin_expect(p != nullptr, 1) ? p : out_of_memory(t, n);
}

// tm_policy_malloc's first choice `t`, picked by pick_inline() or the only tier, failed: the
// rest of that pick's candidates, or the one-tier message for a policy of one tier.
[[gnu::noinline]] void *policy_malloc_failed(tm_policy *pol, tm_tier *t, std::size_t n) noexcept {
  if (pol->selector->only() != nullptr) return one_tier_out_of_memory(pol, t, n, "tm_policy_malloc");
  return policy_alloc_rest(pol, pol->selector->picked(t), n, 0, "tm_policy_malloc");
}

// tm_policy_malloc's jumps (see malloc_cases), each keeping only the policy, the tier and
// the size for its fallbacks (see Selector::picked). The thread's bound tier first.
[[gnu::noinline]] void *policy_malloc_bound(tm_policy *pol, tm_tier *t, std::size_t n) noexcept {
  void *p = heap::allocate_bound(t, n);
  return __builtin_expect(p != nullptr, 1) ? p : policy_malloc_failed(pol, t, n);
}
// Any other case of a tier picked.
[[gnu::noinline]] void *policy_malloc_on(tm_policy *pol, tm_tier *t, std::size_t n) noexcept {
  void *p = allocate_on(t, n == 0 ? 1 : n, 0);
  return __builtin_expect(p != nullptr, 1) ? p : policy_malloc_failed(pol, t, n);
}
// A pick that needs a call (see Selector::pick_inline), then the tier.
[[gnu::noinline]] void *policy_malloc_picking(tm_policy *pol, std::size_t n) noexcept {
  return policy_alloc_any(pol, n, 0, "tm_policy_malloc");
}

// tm_policy_malloc(NULL, n) before the default policy is built: builds it, then allocates.
[[gnu::noinline, gnu::cold]] void *policy_malloc_default(std::size_t n) noexcept {
  tm_policy *pol = default_or_null();
  return pol != nullptr ? tm_policy_malloc(pol, n) : nullptr;
}

// tm_policy_malloc: the pick, then malloc_cases.
[[gnu::always_inline]] inline void *policy_malloc(tm_policy *pol, std::size_t n) noexcept {
  if (pol == nullptr) {
    pol = g_default.load(std::memory_order_acquire);
    if (__builtin_expect(pol == nullptr, 0)) return policy_malloc_default(n);
  }
  auto *t = static_cast<tm_tier *>(pol->selector->only());
  if (t == nullptr) {
    policy::Selector::Pick pick;
    if (__builtin_expect(!pol->selector->pick_inline(n, pick), 0)) {
      return policy_malloc_picking(pol, n);
    }
    t = static_cast<tm_tier *>(pick.handle());
  }
  return malloc_cases(
      t, n, [=] { return policy_malloc_bound(pol, t, n); },
      [=] { return policy_malloc_on(pol, t, n); });
}

// First free on this thread for the tier, a careful slot (limit or poison), NULL, or a
// foreign pointer: kept out of tm_free so that its fast path needs no stack frame.
[[gnu::noinline, gnu::cold]] void free_slow(void *p) noexcept {
  if (api::free_owned_slow(p)) return;
  if (p == nullptr) return;
  heap::report_foreign(p, "tm_free");
  api::set_last_error(-EINVAL, "tiermem: tm_free(" + ptr_text(p) +
                                   "): not a pointer tiermem gave out; not freed (free it with "
                                   "the allocator that returned it)");
}

// The tier of a block being resized; a foreign p is reported (nullptr, EINVAL).
tm_tier *realloc_owner(void *p, const char *call) noexcept {
  tm_tier *t = heap::slot_owner(p);
  if (t != nullptr) return t;
  heap::report_foreign(p, call);
  return fail_null<tm_tier>(-EINVAL, std::string("tiermem: ") + call + "(" + ptr_text(p) +
                                         "): not a pointer tiermem gave out; left untouched");
}

// p (of `t`) resized to n (> 0) bytes on its own tier; nullptr when the tier has no room, p
// untouched.
void *resize_on(tm_tier *t, void *p, std::size_t n) noexcept {
  return t->poisoned.load(std::memory_order_relaxed) ? api::realloc_checked(t, p, n)
                                                     : heap::reallocate(t, p, n);
}

}  // namespace

namespace tiermem::api {
void set_policy_failure_hook(PolicyFailureHook hook) noexcept {
  g_failure_hook.store(hook, std::memory_order_release);
}
}  // namespace tiermem::api

extern "C" {

TM_API tm_tier *tm_tier_find(const char *spec) {
  if (spec == nullptr) return fail_null<tm_tier>(-EINVAL, "tiermem: tm_tier_find(NULL)");
  tm_tier *out = nullptr;
  int rc = api::guard([&] {
    out = api::find_tier(spec);
    return 0;
  });
  if (rc != 0) errno = -rc;
  return out;
}

TM_API void *tm_malloc(tm_tier *tier, size_t n) {
  if (__builtin_expect(tier == nullptr, 0)) return no_tier("tm_malloc");
  return malloc_cases(
      tier, n, [=] { return tier_malloc_bound(tier, n); },
      [=] { return tier_malloc_on(tier, n); });
}

TM_API void *tm_calloc(tm_tier *tier, size_t count, size_t n) {
  if (tier == nullptr) return no_tier("tm_calloc");
  size_t total = 0;
  if (__builtin_mul_overflow(count, n, &total)) {
    return fail_null<void>(-ENOMEM, "tiermem: tm_calloc(" + std::to_string(count) + ", " +
                                        std::to_string(n) + "): the size overflows");
  }
  void *p = allocate_on(tier, total == 0 ? 1 : total, heap::je::zero);
  return p != nullptr ? p : out_of_memory(tier, total);
}

TM_API void *tm_aligned_alloc(tm_tier *tier, size_t align, size_t n) {
  if (tier == nullptr) return no_tier("tm_aligned_alloc");
  int lg = lg_align_or_fail(align);
  if (lg < 0) {
    return fail_null<void>(-EINVAL, "tiermem: tm_aligned_alloc: alignment " +
                                        std::to_string(align) + " is not a power of two");
  }
  void *p = allocate_on(tier, n == 0 ? 1 : n, lg);
  return p != nullptr ? p : out_of_memory(tier, n);
}

TM_API void tm_free(void *p) {
  unsigned slot = 0;
  int flags = 0;
  // Each route ends in a jump (see free_route): tm_free keeps no frame of its own.
  switch (api::free_route(p, slot, flags)) {
    case api::FreeRoute::plain:
      tmje_free(p);
      return;
    case api::FreeRoute::slot:
      heap::release_fast(slot, p, flags);
      return;
    case api::FreeRoute::other:
      free_slow(p);
      return;
  }
}

TM_API void *tm_realloc(void *p, size_t n) {
  if (p == nullptr) return tm_policy_malloc(nullptr, n);
  tm_tier *t = realloc_owner(p, "tm_realloc");
  if (t == nullptr) return nullptr;
  if (n == 0) {
    api::free_on(t, p);
    return nullptr;
  }
  void *q = resize_on(t, p, n);
  return q != nullptr ? q : out_of_memory(t, n);
}

TM_API void *tm_policy_realloc(tm_policy *policy, void *p, size_t n) {
  if (p == nullptr) return policy_alloc(policy, n, 0, "tm_policy_realloc");
  tm_tier *t = realloc_owner(p, "tm_policy_realloc");
  if (t == nullptr) return nullptr;
  if (n == 0) {
    api::free_on(t, p);
    return nullptr;
  }
  if (void *q = resize_on(t, p, n)) return q;
  // p's tier has no room: the policy's tiers take the block, in the order it picks them (its
  // first choice may be p's tier again, which then fails at once).
  heap::count_failure(t);
  void *q = policy_alloc(policy, n, 0, "tm_policy_realloc");
  if (q == nullptr) return nullptr;  // p untouched; the policy's message says why
  api::move_block(t, p, q, n);
  return q;
}

TM_API size_t tm_usable_size(const void *p) {
  return heap::slot_owner(p) != nullptr ? heap::usable_size(p) : 0;
}

TM_API tm_tier *tm_tier_of(const void *p) { return heap::slot_owner(p); }

TM_API const char *tm_tier_name(const tm_tier *tier) {
  return tier != nullptr ? tier->name.c_str() : "";
}

TM_API int tm_tier_set_limit(tm_tier *tier, uint64_t bytes) {
  if (tier == nullptr) return api::set_last_error(-EINVAL, "tiermem: tm_tier_set_limit(NULL, ...)");
  return api::guard([&] {
    heap::set_limit(tier, bytes > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(bytes));
    return 0;
  });
}

TM_API int tm_tier_set_decay_ms(tm_tier *tier, long ms) {
  if (tier == nullptr) return api::set_last_error(-EINVAL, "tiermem: tm_tier_set_decay_ms(NULL, ...)");
  return api::guard([&] {
    heap::set_decay_ms(tier, ms);
    return 0;
  });
}

TM_API int tm_tier_set_huge_pages(tm_tier *tier, int on) {
  if (tier == nullptr) return api::set_last_error(-EINVAL, "tiermem: tm_tier_set_huge_pages(NULL, ...)");
  return api::guard([&] {
    api::set_huge_pages(tier, on != 0);
    return 0;
  });
}

TM_API tm_policy *tm_policy_parse(const char *text) {
  if (text == nullptr) return fail_null<tm_policy>(-EINVAL, "tiermem: tm_policy_parse(NULL)");
  tm_policy *out = nullptr;
  int rc = api::guard([&] {
    out = make_policy(text).release();  // owned by the caller until tm_policy_free()
    return 0;
  });
  if (rc != 0) errno = -rc;
  return out;
}

TM_API int tm_policy_check(const char *text) {
  if (text == nullptr) return api::set_last_error(-EINVAL, "tiermem: tm_policy_check(NULL)");
  return api::guard([&] {
    api::check_policy(text, api::machine().topo);
    return 0;
  });
}

TM_API void tm_policy_free(tm_policy *policy) {
  if (policy != nullptr && policy != g_default.load(std::memory_order_acquire)) {
    std::unique_ptr<tm_policy> owned(policy);
  }
}

TM_API tm_policy *tm_policy_default(void) {
  // Built once and published (g_default): later calls, and every tm_realloc(NULL, n), take
  // no lock. A bad TIERMEM_POLICY is reported on each call and nothing is published.
  if (tm_policy *made = g_default.load(std::memory_order_acquire)) return made;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (tm_policy *made = g_default.load(std::memory_order_relaxed)) return made;
  const char *env = ::secure_getenv("TIERMEM_POLICY");  // ignored for set-id programs
  std::string text = env != nullptr && *env != '\0' ? env : "bind(rank:0)";
  tm_policy *made = nullptr;
  int rc = api::guard([&] {
    try {
      made = make_policy(text).release();  // immortal: callers keep it without owning it
    } catch (const Error &e) {
      throw Error(e.code(), std::string(e.what()) + (env ? " (from TIERMEM_POLICY)" : ""));
    }
    return 0;
  });
  if (rc != 0) {
    errno = -rc;
    return nullptr;
  }
  g_default.store(made, std::memory_order_release);
  return made;
}

TM_API const char *tm_policy_text(const tm_policy *policy) {
  return policy != nullptr ? policy->text.c_str() : "";
}

TM_API void *tm_policy_malloc(tm_policy *policy, size_t n) {
  return policy_malloc(policy, n);
}

TM_API void *tm_policy_calloc(tm_policy *policy, size_t count, size_t n) {
  size_t total = 0;
  if (__builtin_mul_overflow(count, n, &total)) {
    return fail_null<void>(-ENOMEM, "tiermem: tm_policy_calloc(" + std::to_string(count) + ", " +
                                        std::to_string(n) + "): the size overflows");
  }
  return policy_alloc(policy, total, heap::je::zero, "tm_policy_calloc");
}

TM_API void *tm_policy_aligned_alloc(tm_policy *policy, size_t align, size_t n) {
  int lg = lg_align_or_fail(align);
  if (lg < 0) {
    return fail_null<void>(-EINVAL, "tiermem: tm_policy_aligned_alloc: alignment " +
                                        std::to_string(align) + " is not a power of two");
  }
  return policy_alloc(policy, n, lg, "tm_policy_aligned_alloc");
}

}  // extern "C"
