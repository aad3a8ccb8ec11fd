/**
 * @file heap.hpp
 * @brief C++ wrappers over the tiered heap (tiermem/heap.h): a tier handle, a policy handle,
 * an STL allocator, a `std::pmr::memory_resource` and `unique_ptr` helpers.
 *
 * Errors: lookups and parsing throw tiermem::Error (code and one-line message as the C ABI
 * reports them); allocations that fail throw std::bad_alloc, as STL allocators must.
 *
 * Needs C++17 (std::pmr, std::string_view); the library itself is built as C++20.
 */
#pragma once
#if !defined(__cplusplus) || __cplusplus < 201703L
#error "tiermem/heap.hpp needs C++17 or later; compile with -std=c++17 (or newer)"
#endif
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <cerrno>

#include "tiermem/error.hpp"
#include "tiermem/tiermem.h"

namespace tiermem {

/** A tier of the heap. Cheap to copy; tiers live until the process exits. */
class TierHandle {
 public:
  /** Finds (and opens) a tier: "rank:0", "kind:hbm", "node:2", "dax:dax0.0", "emulated:X". */
  static TierHandle find(std::string_view spec) {
    tm_tier *t = tm_tier_find(std::string(spec).c_str());
    if (t == nullptr) throw Error(-errno, tm_last_error());
    return TierHandle(t);
  }
  /** The tier a block lies on; throws for a foreign pointer. */
  static TierHandle of(const void *p) {
    tm_tier *t = tm_tier_of(p);
    if (t == nullptr) throw Error(-EINVAL, "tiermem: pointer is not a tiermem block");
    return TierHandle(t);
  }
  explicit TierHandle(tm_tier *t) noexcept : t_(t) {}

  void *allocate(std::size_t n, std::size_t align = alignof(std::max_align_t)) const {
    void *p = align <= alignof(std::max_align_t) ? tm_malloc(t_, n)
                                                 : tm_aligned_alloc(t_, align, n);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  static void deallocate(void *p) noexcept { tm_free(p); }

  std::string name() const { return tm_tier_name(t_); }
  tm_tier_stats stats() const {
    tm_tier_stats s{};
    if (int rc = tm_tier_stats_get(t_, &s); rc != 0) throw Error(rc, tm_last_error());
    return s;
  }
  /** tm_tier_set_limit(); throws tiermem::Error when it fails. */
  void set_limit(std::uint64_t bytes) const {
    if (int rc = tm_tier_set_limit(t_, bytes); rc != 0) throw Error(rc, tm_last_error());
  }
  tm_tier *get() const noexcept { return t_; }
  friend bool operator==(const TierHandle &a, const TierHandle &b) noexcept { return a.t_ == b.t_; }

 private:
  tm_tier *t_;
};

/** An owned policy (tm_policy_parse). */
class Policy {
 public:
  explicit Policy(std::string_view text) : p_(tm_policy_parse(std::string(text).c_str())) {
    if (p_ == nullptr) throw Error(-errno, tm_last_error());
  }
  void *allocate(std::size_t n) const {
    void *p = tm_policy_malloc(p_.get(), n);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  std::string text() const { return tm_policy_text(p_.get()); }
  tm_policy *get() const noexcept { return p_.get(); }

 private:
  struct Free {
    void operator()(tm_policy *p) const noexcept { tm_policy_free(p); }
  };
  std::unique_ptr<tm_policy, Free> p_;
};

/** An STL allocator placing every element on one tier: `std::vector<T, TierAllocator<T>>`. */
template <class T>
class TierAllocator {
 public:
  using value_type = T;
  explicit TierAllocator(TierHandle tier) noexcept : tier_(tier) {}
  template <class U>
  TierAllocator(const TierAllocator<U> &other) noexcept : tier_(other.tier()) {}

  T *allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T *>(tier_.allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T *p, std::size_t) noexcept { tm_free(p); }
  TierHandle tier() const noexcept { return tier_; }

  template <class U>
  friend bool operator==(const TierAllocator &a, const TierAllocator<U> &b) noexcept {
    return a.tier() == b.tier();
  }

 private:
  TierHandle tier_;
};

/** A polymorphic memory resource on one tier (`std::pmr::vector<int> v(&resource)`). */
class TierResource final : public std::pmr::memory_resource {
 public:
  explicit TierResource(TierHandle tier) noexcept : tier_(tier) {}
  TierHandle tier() const noexcept { return tier_; }

 private:
  void *do_allocate(std::size_t bytes, std::size_t align) override {
    void *p = tm_aligned_alloc(tier_.get(), align, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void do_deallocate(void *p, std::size_t, std::size_t) override { tm_free(p); }
  bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
    auto *o = dynamic_cast<const TierResource *>(&other);
    return o != nullptr && o->tier_ == tier_;
  }
  TierHandle tier_;
};

/** Deleter for tiermem blocks holding a T (or T[] of trivially destructible T). */
template <class T>
struct TierDelete {
  void operator()(T *p) const noexcept {
    if (p == nullptr) return;
    p->~T();
    tm_free(p);
  }
};
template <class T>
struct TierDelete<T[]> {
  void operator()(T *p) const noexcept { tm_free(p); }
};

template <class T>
using tier_unique_ptr = std::unique_ptr<T, TierDelete<T>>;

/** Constructs a T on `tier`: `auto p = tiermem::make_unique_on<Foo>(tier, args...)`. */
template <class T, class... Args>
std::enable_if_t<!std::is_array_v<T>, tier_unique_ptr<T>> make_unique_on(TierHandle tier,
                                                                         Args &&...args) {
  void *mem = tier.allocate(sizeof(T), alignof(T));
  try {
    return tier_unique_ptr<T>(new (mem) T(std::forward<Args>(args)...));
  } catch (...) {
    tm_free(mem);
    throw;
  }
}

/** `n` value-initialised (zeroed) elements of a trivial T on `tier`. */
// std::is_unbounded_array_v is C++20; spelled out so that C++17 users can include this header.
template <class T>
std::enable_if_t<std::is_array_v<T> && std::extent_v<T> == 0 &&
                     std::is_trivial_v<std::remove_extent_t<T>>,
                 tier_unique_ptr<T>>
make_unique_on(TierHandle tier, std::size_t n) {
  using E = std::remove_extent_t<T>;
  void *mem = tm_calloc(tier.get(), n, sizeof(E));
  if (mem == nullptr) throw std::bad_alloc();
  return tier_unique_ptr<T>(static_cast<E *>(mem));
}

}  // namespace tiermem
