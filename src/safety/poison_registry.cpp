#include "safety/poison_registry.hpp"

namespace tiermem::safety {

namespace {

unsigned effective_lsb(unsigned lsb) noexcept {
  if (lsb == 0) return 12;
  return lsb > 63 ? 63 : lsb;
}

std::uintptr_t unit_start(std::uintptr_t addr, unsigned lsb) noexcept {
  return addr & ~((std::uintptr_t{1} << lsb) - 1);
}

constinit PoisonRegistry global_registry;

}  // namespace

PoisonRegistry &poison_registry() noexcept { return global_registry; }

constinit std::atomic<bool> detail::any_poison{false};

bool PoisonRegistry::record(std::uintptr_t addr, unsigned lsb, int rank) noexcept {
  lsb = effective_lsb(lsb);
  std::uintptr_t start = unit_start(addr, lsb);
  if (contains(start, std::size_t{1} << lsb)) return false;
  std::size_t i = claimed_.fetch_add(1, std::memory_order_relaxed);
  if (i >= capacity) {
    claimed_.fetch_sub(1, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Slot &s = slots_[i];
  s.start.store(start, std::memory_order_relaxed);
  s.lsb.store(lsb, std::memory_order_relaxed);
  s.rank.store(rank, std::memory_order_relaxed);
  s.ready.store(true, std::memory_order_release);
  if (this == &global_registry) detail::any_poison.store(true, std::memory_order_release);
  return true;
}

bool PoisonRegistry::contains(std::uintptr_t addr, std::size_t len) const noexcept {
  if (len == 0) return false;
  std::uintptr_t last = addr + (len - 1);
  if (last < addr) last = ~std::uintptr_t{0};
  std::size_t n = size();
  for (std::size_t i = 0; i < n; ++i) {
    const Slot &s = slots_[i];
    if (!s.ready.load(std::memory_order_acquire)) continue;
    std::uintptr_t start = s.start.load(std::memory_order_relaxed);
    std::uintptr_t end_incl = start + ((std::uintptr_t{1} << s.lsb.load(std::memory_order_relaxed)) - 1);
    if (start <= last && addr <= end_incl) return true;
  }
  return false;
}

std::size_t PoisonRegistry::first_poisoned(std::uintptr_t addr, std::size_t n) const noexcept {
  std::size_t count = size();
  if (count == 0 || n == 0) return n;
  std::uintptr_t last = addr + (n - 1);
  if (last < addr) last = ~std::uintptr_t{0};
  std::size_t first = n;
  for (std::size_t i = 0; i < count; ++i) {
    const Slot &s = slots_[i];
    if (!s.ready.load(std::memory_order_acquire)) continue;
    std::uintptr_t start = s.start.load(std::memory_order_relaxed);
    std::uintptr_t end_incl =
        start + ((std::uintptr_t{1} << s.lsb.load(std::memory_order_relaxed)) - 1);
    if (start > last || end_incl < addr) continue;
    std::size_t off = start > addr ? start - addr : 0;
    if (off < first) first = off;
  }
  return first;
}

std::size_t PoisonRegistry::forget(std::uintptr_t addr, std::size_t len) noexcept {
  if (len == 0) return 0;
  std::uintptr_t last = addr + (len - 1);
  std::size_t n = size(), forgotten = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Slot &s = slots_[i];
    if (!s.ready.load(std::memory_order_acquire)) continue;
    std::uintptr_t start = s.start.load(std::memory_order_relaxed);
    std::uintptr_t end_incl =
        start + ((std::uintptr_t{1} << s.lsb.load(std::memory_order_relaxed)) - 1);
    if (start > last || end_incl < addr) continue;
    bool expected = true;
    if (s.ready.compare_exchange_strong(expected, false, std::memory_order_acq_rel)) ++forgotten;
  }
  return forgotten;
}

std::size_t PoisonRegistry::size() const noexcept {
  std::size_t n = claimed_.load(std::memory_order_acquire);
  return n < capacity ? n : capacity;
}

bool PoisonRegistry::get(std::size_t i, PoisonRange *out) const noexcept {
  if (i >= size()) return false;
  const Slot &s = slots_[i];
  if (!s.ready.load(std::memory_order_acquire)) return false;
  out->start = s.start.load(std::memory_order_relaxed);
  out->lsb = s.lsb.load(std::memory_order_relaxed);
  out->length = std::size_t{1} << out->lsb;
  out->rank = s.rank.load(std::memory_order_relaxed);
  return true;
}

void PoisonRegistry::clear_for_testing() noexcept {
  for (Slot &s : slots_) {
    s.ready.store(false, std::memory_order_relaxed);
    s.start.store(0, std::memory_order_relaxed);
  }
  claimed_.store(0, std::memory_order_release);
  dropped_.store(0, std::memory_order_relaxed);
}

}  // namespace tiermem::safety
