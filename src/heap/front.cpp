// The front cache's cold paths (see front.hpp): the class table, creating a thread's Front,
// refilling and flushing a stack, and emptying a thread's Fronts at its exit.
#include "heap/front.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "tiermem/error.hpp"

#include "heap/heap.hpp"

namespace tiermem::heap {

std::uint8_t g_front_class[(kFrontMax >> 3) + 1] = {};
std::size_t g_front_max = 0;
constinit thread_local FrontTable *t_fronts [[gnu::tls_model("initial-exec")]] = nullptr;
std::uintptr_t g_front_pages[kMaxSlots] = {};

namespace {

std::uint64_t g_class_size[kFrontClasses] = {};
unsigned g_classes = 0;

// Arena 0 keeps jemalloc's default hooks: ordinary anonymous memory, never a tier's.
constexpr int kDramFlags = je::arena(0) | je::tcache_none;

Front *make_front() noexcept {
  void *mem = nullptr;
  je_other([&] { mem = tmje_mallocx(sizeof(Front), kDramFlags); });
  if (mem == nullptr) return nullptr;
  auto *f = new (mem) Front;
  for (unsigned c = 0; c < g_classes; ++c) {
    FrontStack &s = f->stacks[c];
    s.size = g_class_size[c];
    s.cap = static_cast<std::uint32_t>(
        std::clamp<std::uint64_t>(kFrontStackBytes / s.size, 4, kFrontSlots));
  }
  return f;
}

}  // namespace

void read_front_classes(const std::vector<std::size_t> &classes) {
  unsigned n = 0;
  std::uint64_t sizes[kFrontClasses] = {};
  for (std::size_t v : classes) {
    if (v > kFrontMax) break;
    // A jemalloc built with other classes than the table expects: no Fronts, only slower.
    if (n == kFrontClasses || v % 8 != 0 || (n > 0 && v <= sizes[n - 1])) return;
    sizes[n++] = v;
  }
  if (n == 0) return;
  std::copy(sizes, sizes + n, g_class_size);
  g_classes = n;
  unsigned c = 0;
  for (std::size_t i = 1; i <= (sizes[n - 1] >> 3); ++i) {
    while (sizes[c] < i * 8) ++c;
    g_front_class[i] = static_cast<std::uint8_t>(c);
  }
  g_front_max = sizes[n - 1];
}

void map_front_pages(tm_tier &tier) {
  const auto first = reinterpret_cast<std::uintptr_t>(tier.backend->base());
  const auto end = reinterpret_cast<std::uintptr_t>(slot_address(tier.slot) + slot_size());
  const std::size_t bytes = (((end - first) >> kFrontPageShift) + 4095) & ~std::size_t{4095};
  tier.front_pages = map_table("the page classes of tier '" + tier.name + "'", bytes);
  g_front_pages[tier.slot] =
      reinterpret_cast<std::uintptr_t>(tier.front_pages.addr()) - (first >> kFrontPageShift);
}

void *front_refill(tm_tier *tier, std::size_t n) noexcept {
  if (n > g_front_max) return nullptr;
  const unsigned slot = tier->slot;
  FrontTable *table = t_fronts;
  if (table == nullptr) {
    void *mem = nullptr;
    je_other([&] { mem = tmje_mallocx(sizeof(FrontTable), kDramFlags); });
    if (mem == nullptr) return nullptr;
    t_fronts = table = new (mem) FrontTable;
  }
  Front *f = table->by_slot[slot];
  if (f == nullptr) {
    if (table->count == kMaxFronts || (f = make_front()) == nullptr) return nullptr;
    table->by_slot[slot] = f;
    ++table->count;
  }
  const unsigned c = g_front_class[(n + 7) >> 3];
  FrontStack &s = f->stacks[c];
  // Blocks taken into the stack are not noted (t_net): they are not the program's yet.
  // From the front arena only, each block's page given its class (see g_front_pages).
  const std::uint32_t want = std::max<std::uint32_t>(s.cap / 2, 1);
  const int front_flags = tier->front_flags;
  je_other([&] {
    // First what flushes gave back to the tier's own arena (its tcache hands those out
    // first); its blocks' pages keep no class (0: a free asks jemalloc), and a front-arena
    // block the tcache held keeps its page's class.
    const int own_flags = t_flags[slot];
    while (s.owed > 0 && s.count < want) {
      void *p = tmje_mallocx(s.size, own_flags);
      if (p == nullptr) break;
      --s.owed;
      s.items[s.count++] = p;
    }
    while (s.count < want) {
      void *p = tmje_mallocx(s.size, front_flags);
      if (p == nullptr) break;
      set_front_class(slot, p, c + 1);
      s.items[s.count++] = p;
    }
  });
  if (s.count == 0) return nullptr;
  note_allocated(slot, s.size);
  return s.items[--s.count];
}

namespace {

// Gives the page of `p`, a block the front arena handed out other than to a refill, the byte
// a free reads there (see g_front_pages): its class when a Front serves it, else 0 (ask
// jemalloc). Every block of that arena leaves it through a refill or here.
void note_front_page(unsigned slot, void *p) noexcept {
  const std::size_t usable = tmje_sallocx(p, 0);
  set_front_class(slot, p, usable <= g_front_max ? g_front_class[(usable + 7) >> 3] + 1u : 0u);
}

int front_arena_flags(unsigned slot, int flags) noexcept {
  tm_tier *tier = g_slots.tier[slot].load(std::memory_order_acquire);
  if (tier == nullptr || (flags & je::arena_mask) != tier->arena_flags) return 0;
  return (flags & ~(je::arena_mask | je::tcache_mask)) | tier->front_flags;
}

}  // namespace

void *mallocx_front_arena(unsigned slot, std::size_t n, int flags) noexcept {
  const int f = front_arena_flags(slot, flags);
  if (f == 0) return nullptr;  // already the front arena's request
  // Noted as any request of the tier (its failure comes back here with the front arena's
  // flags, and ends above).
  void *p = mallocx_noted(slot, n, f);
  if (p != nullptr) note_front_page(slot, p);
  return p;
}

void *rallocx_front_arena(unsigned slot, void *p, std::size_t n, int flags) noexcept {
  void *q = mallocx_front_arena(slot, n, flags);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, std::min(tmje_sallocx(p, 0), n));
  freed_noted(slot, [=] { tmje_dallocx(p, flags & je::tcache_mask); });
  return q;
}

void *allocate_front_miss(tm_tier *tier, std::size_t n) noexcept {
  // The flags first: a thread's first call on the tier binds it to jemalloc's totals, and
  // may make this tier the thread's bound one (then the automatic tcache serves it).
  const int flags = small_flags(tier);
  if (!je::automatic_tcache(flags)) {
    if (void *p = front_refill(tier, n)) return p;
  }
  return mallocx_noted(tier->slot, n, flags);
}

namespace {

// release_fast()'s cold cases, each its last act (a jump), so that release_fast keeps no
// frame. Flags are read again here rather than kept.
[[gnu::noinline]] void release_explicit(unsigned slot, void *p) noexcept {
  release_with(slot, p, t_flags[slot]);
}
[[gnu::noinline]] void release_sized(unsigned slot, void *p, std::size_t size) noexcept {
  sdallocx_noted(slot, p, size, t_flags[slot]);  // the size is known: spare jemalloc its lookup
}
[[gnu::noinline]] void push_to_full(unsigned slot, FrontStack &s, void *p) noexcept {
  front_flush(slot, s, t_flags[slot]);
  s.items[s.count++] = p;
  note_freed(slot, s.size);
}
[[gnu::noinline]] void release_looked_up(void *p) noexcept;

}  // namespace

void release_fast(unsigned slot, void *p, int flags) noexcept {
  if (je::automatic_tcache(flags)) return release_explicit(slot, p);  // its sync is due
  Front *f = front_of(slot);
  if (__builtin_expect(f == nullptr, 0)) return release_explicit(slot, p);
  // A front-arena block: its class from its page, no jemalloc call.
  const unsigned c = front_class_of(slot, p);
  if (__builtin_expect(c == 0, 0)) return release_looked_up(p);
  FrontStack &s = f->stacks[c - 1];
  if (__builtin_expect(s.count == s.cap, 0)) return push_to_full(slot, s, p);
  s.items[s.count++] = p;
  note_freed(slot, s.size);
}

namespace {

// Any other block of a slot with a Front (the tier's own arena: a block its bound threads
// allocated, or one from the explicit path): jemalloc's size lookup, then the same push.
void release_looked_up(void *p) noexcept {
  const std::size_t size = tmje_sallocx(p, 0);
  // Only `p` is kept over the call: the slot and the Front are found again from it, loads
  // that do not wait for the size, rather than kept in registers saved on every free.
  unsigned slot = 0;
  slot_of(p, slot);
  Front *f = t_fronts->by_slot[slot];
  if (__builtin_expect(size > g_front_max, 0)) return release_sized(slot, p, size);
  FrontStack &s = f->stacks[g_front_class[(size + 7) >> 3]];
  if (__builtin_expect(s.count == s.cap, 0)) return push_to_full(slot, s, p);
  s.items[s.count++] = p;
  note_freed(slot, size);
}

}  // namespace

void front_flush(unsigned slot, FrontStack &s, int flags) noexcept {
  // The oldest half (the bottom) goes back; the most recently freed blocks, warm in the
  // cache, stay.
  const std::uint32_t half = std::max<std::uint32_t>(s.count / 2, 1);
  std::uint32_t own = 0;
  je_other([&] {
    for (std::uint32_t i = 0; i < half; ++i) {
      own += front_class_of(slot, s.items[i]) == 0;
      tmje_dallocx(s.items[i], flags);
    }
  });
  s.owed = s.owed + own < s.owed ? UINT32_MAX : s.owed + own;
  std::memmove(s.items, s.items + half, (s.count - half) * sizeof s.items[0]);
  s.count -= half;
}

void front_release(unsigned slot, int flags) noexcept {
  FrontTable *table = t_fronts;
  Front *f = table != nullptr ? table->by_slot[slot] : nullptr;
  if (f == nullptr) return;
  je_other([&] {
    for (FrontStack &s : f->stacks) {
      for (std::uint32_t i = 0; i < s.count; ++i) tmje_dallocx(s.items[i], flags);
      s.count = 0;
    }
  });
}

void front_thread_exit(const int *flags) noexcept {
  FrontTable *table = t_fronts;
  if (table == nullptr) return;
  t_fronts = nullptr;
  je_other([&] {
    for (unsigned slot = 0; slot < kMaxSlots; ++slot) {
      Front *f = table->by_slot[slot];
      if (f == nullptr) continue;
      for (FrontStack &s : f->stacks) {
        for (std::uint32_t i = 0; i < s.count; ++i) tmje_dallocx(s.items[i], flags[slot]);
        s.count = 0;
      }
      tmje_dallocx(f, je::tcache_none);
    }
    tmje_dallocx(table, je::tcache_none);
  });
}

}  // namespace tiermem::heap
