// The front cache's cold paths (see front.hpp): the class table, creating a thread's Front,
// refilling and flushing a stack, and emptying a thread's Fronts at its exit.
#include "heap/front.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "heap/heap.hpp"

namespace tiermem::heap {

std::uint8_t g_front_class[(kFrontMax >> 3) + 1] = {};
std::size_t g_front_max = 0;
constinit thread_local FrontTable *t_fronts [[gnu::tls_model("initial-exec")]] = nullptr;

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

void *front_refill(tm_tier *tier, std::size_t n, int flags) noexcept {
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
  FrontStack &s = f->stacks[g_front_class[(n + 7) >> 3]];
  // Blocks taken into the stack are not noted (t_net): they are not the program's yet.
  const std::uint32_t want = std::max<std::uint32_t>(s.cap / 2, 1);
  je_other([&] {
    while (s.count < want) {
      void *p = tmje_mallocx(s.size, flags);
      if (p == nullptr) break;
      s.items[s.count++] = p;
    }
  });
  if (s.count == 0) return nullptr;
  note_allocated(slot, s.size);
  return s.items[--s.count];
}

void *allocate_front_miss(tm_tier *tier, std::size_t n) noexcept {
  // The flags first: a thread's first call on the tier binds it to jemalloc's totals, and
  // may make this tier the thread's bound one (then the automatic tcache serves it).
  const int flags = small_flags(tier);
  if (!je::automatic_tcache(flags)) {
    if (void *p = front_refill(tier, n, flags)) return p;
  }
  return mallocx_noted(tier->slot, n, flags);
}

namespace {

// release_fast()'s cold cases, each its last act (a jump): the frame of release_fast keeps
// only what its size lookup must not lose. Flags are read again here rather than kept.
[[gnu::noinline]] void release_explicit(unsigned slot, void *p) noexcept {
  release_with(slot, p, t_flags[slot]);
}
[[gnu::noinline]] void release_sized(unsigned slot, void *p, std::size_t size) noexcept {
  sdallocx_noted(slot, p, size, t_flags[slot]);  // the size is known: spare jemalloc its lookup
}
[[gnu::noinline]] void push_to_full(unsigned slot, FrontStack &s, void *p) noexcept {
  front_flush(s, t_flags[slot]);
  s.items[s.count++] = p;
  note_freed(slot, s.size);
}

}  // namespace

void release_fast(unsigned slot_in, void *p, int flags) noexcept {
  if (je::automatic_tcache(flags)) return release_explicit(slot_in, p);  // its sync is due
  if (__builtin_expect(front_of(slot_in) == nullptr, 0)) return release_explicit(slot_in, p);
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

void front_flush(FrontStack &s, int flags) noexcept {
  // The oldest half (the bottom) goes back; the most recently freed blocks, warm in the
  // cache, stay.
  const std::uint32_t half = std::max<std::uint32_t>(s.count / 2, 1);
  je_other([&] {
    for (std::uint32_t i = 0; i < half; ++i) tmje_dallocx(s.items[i], flags);
  });
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
