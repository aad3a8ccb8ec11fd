// The policy grammar, parsed in one place for the API (tm_policy_parse), the environment
// (TIERMEM_POLICY), the launcher and the preload library.
//
//   policy     := tier | bind | preferred | interleave | weighted | threshold | auto
//   bind       := "bind(" tier ")"                       every block on that tier, or ENOMEM
//   preferred  := "preferred(" tier {"," tier} ")"       first tier that has room, in order
//   interleave := "interleave(" tier {"," tier} ")"      rotate tiers block by block
//   weighted   := "weighted(" tier "=" W {"," tier "=" W} ")"   split bytes W1:W2:...
//   threshold  := "threshold(" SIZE "," policy "," policy ")"   n < SIZE: first, else second
//   auto       := "auto(" SPEC "<=" SIZE "," SPEC ")"    blocks on the second tier (SLOW), at
//                                                        most SIZE of them moved to the first
//                                                        (FAST) while hot; a whole policy only
//   tier       := SPEC ["<=" SIZE]        SPEC as topology/spec.hpp (kSpecGrammar); <= caps it
//
// A bare tier means bind(tier). Spaces are allowed between tokens. SIZE as TIERMEM_EMULATE
// ("64K", "2G"). W is an integer from 1 to 1000000. threshold() nests at most 16 deep.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <stdexcept>
#include <vector>

namespace tiermem::policy {

namespace detail {

inline constexpr std::size_t kMaxTiers = 16;  // the parser's limit per policy

// A selector's tier handles, in the selector itself: the pick reads its tier with one load
// from the selector, not through a vector's separately allocated array.
class Handles {
 public:
  std::size_t size() const noexcept { return n_; }
  void *operator[](std::size_t i) const noexcept { return at_[i]; }
  void push_back(void *h) {
    if (n_ == kMaxTiers) throw std::length_error("a policy names at most 16 tiers");
    at_[n_++] = h;
  }

 private:
  void *at_[kMaxTiers] = {};
  std::size_t n_ = 0;
};

// A thread's counters for one selector: interleave's next tier, weighted's bytes per tier.
struct ThreadState {
  std::uint64_t generation = 0;  // the owning selector's; 0 for none
  // Interleave: the tier the next request goes to. Weighted: the tier of the last request
  // (Selector::picked()).
  std::uint64_t next = 0;
  std::uint64_t bytes[kMaxTiers] = {};
};

// The tier furthest behind its share of bytes: smallest bytes_i / w_i, compared as products.
template <class Bytes>
std::size_t furthest_behind(const std::vector<std::uint64_t> &weights, Bytes &&bytes) noexcept {
  std::size_t first = 0;
  for (std::size_t i = 1; i < weights.size(); ++i) {
    unsigned __int128 a = static_cast<unsigned __int128>(bytes(i)) * weights[first];
    unsigned __int128 b = static_cast<unsigned __int128>(bytes(first)) * weights[i];
    if (a < b) first = i;
  }
  return first;
}

}  // namespace detail

struct TierTerm {
  std::string spec;                    ///< "rank:0", "kind:hbm", ...
  std::optional<std::uint64_t> limit;  ///< from "<=SIZE"
  std::uint64_t weight = 1;            ///< weighted() only
};

struct Policy {
  enum class Kind { bind, preferred, interleave, weighted, threshold, automatic };
  Kind kind = Kind::bind;
  /** Empty for threshold; for automatic {FAST (limit: the budget SIZE), SLOW}. */
  std::vector<TierTerm> tiers;
  std::uint64_t threshold = 0;
  std::unique_ptr<Policy> small, large;
};

/** Throws tiermem::Error (-EINVAL) quoting the text, the column and what was expected. */
Policy parse(std::string_view text);

/** Canonical text, e.g. "preferred(kind:hbm<=2G, rank:0)"; parse(to_string(p)) == p. */
std::string to_string(const Policy &p);

/**
 * Where the policy's blocks are allocated: `p` itself, except for auto(FAST<=SIZE, SLOW),
 * whose blocks all start on SLOW: bind(SLOW). A Selector is built from this (an auto policy's
 * FAST is reached by migration, never by allocation, and its SIZE is a budget, not a limit).
 */
Policy home_policy(const Policy &p);

/**
 * A parsed policy bound to tier handles: answers "which tiers, in which order" per request.
 * Lock-free. Interleave and weighted count per thread (each thread rotates, or splits its
 * bytes, on its own; together they split as the policy says): nothing shared is written per
 * request. Past kThreadStates live counting selectors, the rest share atomic counters.
 */
class Selector {
 public:
  /** `resolve` maps each tier term (in text order) to a non-null handle; it may throw. */
  template <class Resolve>
  Selector(const Policy &p, Resolve &&resolve) : kind_(p.kind) {
    if (kind_ == Policy::Kind::threshold) {
      flatten(p, 0, UINT64_MAX, resolve);
      build_table();
      return;
    }
    for (const auto &t : p.tiers) {
      handles_.push_back(resolve(t));
      weights_.push_back(t.weight);
    }
    // One tier: every request has the same single candidate, whatever the kind.
    if (handles_.size() == 1) only_ = handles_[0];
    if (kind_ == Policy::Kind::weighted) scale_weights();
    if (kind_ == Policy::Kind::interleave || kind_ == Policy::Kind::weighted) claim_thread_state();
    choose_mode();
  }
  ~Selector();
  Selector(const Selector &) = delete;
  Selector &operator=(const Selector &) = delete;

  /** The one candidate of every request when the policy has one tier, else nullptr. */
  void *only() const noexcept { return only_; }

  /** Writes the handles to try for an `n`-byte request, best first; returns how many. */
  std::size_t candidates(std::size_t n, void **out, std::size_t max) noexcept {
    return candidates_from(pick(n), out, max);
  }

  /**
   * The first choice for an `n`-byte request, without the list: which selector (a
   * threshold's branch) and the index of its tier. Advances interleave's and weighted's
   * counters as candidates() does; candidates_from() then lists the rest without advancing
   * them again, so a request that falls back counts once.
   */
  struct Pick {
    const Selector *sel;  ///< whose tiers fall back in turn; nullptr: `tier` alone
    std::size_t first;
    void *tier;           ///< the first choice: sel->handles_[first], or the one tier
    void *handle() const noexcept { return tier; }
  };
  [[gnu::always_inline]] inline Pick pick(std::size_t n) noexcept;
  /**
   * pick() when it needs no call: true with `out` filled, or false having counted nothing
   * (a nested threshold, counters shared by all threads, a thread state left by a former
   * owner, a rebase due); the caller then calls pick(). Lets an allocation path that keeps
   * no stack frame pick on its own.
   */
  [[gnu::always_inline]] inline bool pick_inline(std::size_t n, Pick &out) noexcept;
  /**
   * The Pick of this thread's last successful pick_inline(), which chose `tier`: for the
   * fallbacks of a path that kept only the tier (cold). Valid until the thread's next pick.
   */
  Pick picked(void *tier) noexcept;
  /** The candidates of a pick, best (its handle()) first; returns how many. */
  static std::size_t candidates_from(Pick p, void **out, std::size_t max) noexcept;

  /** Live selectors that count per thread at once (each thread keeps state for each). */
  static constexpr unsigned kThreadStates = 8;

 private:
  // Weighted, per thread: each tier's bytes times scale_[i] = lcm(weights) / w_i, so the tier
  // furthest behind its share is the smallest counter (one 64-bit compare a tier, no 128-bit
  // products). Weights whose lcm exceeds kMaxScale keep the products (scale_[0] == 0).
  static constexpr std::uint64_t kMaxScale = std::uint64_t{1} << 24;
  // The counters move down together (order kept) once the chosen one passes kRebaseAt. One
  // request adds at most kMaxAdd (a request of more than kMaxAdd / scale bytes, 512 GiB at
  // the largest scale, counts as that much), so counters stay below 2^63 after a rebase and
  // their sums never wrap.
  static constexpr std::uint64_t kRebaseAt = std::uint64_t{1} << 63;
  static constexpr std::uint64_t kMaxAdd = kRebaseAt - 1;

  // A threshold's branches, nested or not, cut the sizes into ranges, each served by one
  // selector of another kind (a leaf): the pick finds the range by comparing n with the cuts,
  // then picks in that leaf, without a recursive call.
  template <class Resolve>
  void flatten(const Policy &p, std::uint64_t lo, std::uint64_t hi, Resolve &resolve) {
    if (p.kind == Policy::Kind::threshold) {
      // Both branches are built (and their tiers resolved, in text order) even when the
      // enclosing range leaves one no sizes.
      flatten(*p.small, lo, p.threshold < hi ? p.threshold : hi, resolve);
      flatten(*p.large, p.threshold > lo ? p.threshold : lo, hi, resolve);
      return;
    }
    branches_.push_back(std::make_unique<Selector>(p, resolve));
    if (lo >= hi) return;
    if (!leaves_.empty()) cuts_.push_back(lo);
    leaves_.push_back(branches_.back().get());
  }
  [[gnu::always_inline]] inline Pick pick_leaf(std::size_t n) noexcept;
  /** pick_leaf() when it needs no call (see pick_inline). */
  [[gnu::always_inline]] inline bool pick_leaf_inline(std::size_t n, Pick &out) noexcept;
  /** pick_leaf()'s other cases: a state to reset, a rebase, Mode::other (policy.cpp). */
  [[gnu::noinline]] Pick pick_leaf_slow(std::size_t n) noexcept;
  /** Weighted's choice for `n` bytes on state `s`: the tier and what it adds to its count. */
  [[gnu::always_inline]] inline void weighted_choice(const detail::ThreadState &s, std::size_t n,
                                                     std::size_t &first,
                                                     std::uint64_t &add) const noexcept;
  /**
   * handles_[i], by a branch for each of the first two tiers: the branch is predicted, so the
   * tier's load need not wait for `i`, which comes from a per-thread counter (and the tier's
   * own fast path waits for the tier).
   */
  [[gnu::always_inline]] void *tier_at(std::size_t i) const noexcept {
    // The empty asm keeps the compiler from folding the branches back into handles_[i].
    void *t;
    if (i == 0) {
      t = handles_[0];
      asm("# tier 0" : "+r"(t));
    } else if (i == 1) {
      t = handles_[1];
      asm("# tier 1" : "+r"(t));
    } else {
      t = handles_[i];
    }
    return t;
  }
  void build_table() noexcept;
  void choose_mode() noexcept;
  /** This thread's state for this selector (it must have one), reset if a former owner's. */
  detail::ThreadState &thread_state() noexcept;
  /** The same, as it is: the caller checks its generation. */
  detail::ThreadState &own_state() const noexcept;
  void scale_weights() noexcept;
  void rebase(detail::ThreadState &s) noexcept;
  void claim_thread_state() noexcept;
  std::size_t first_shared(std::size_t n) noexcept;
  /** Mode::other's first tier: weighted by products on per-thread state, or shared counters. */
  std::size_t pick_other(std::size_t n) noexcept;

  // What the pick does, decided once: one compare per request instead of the kind, whether
  // this selector has per-thread state and whether its weights are scaled. Tested in the
  // order the pick tests them (bench_heap: each compare is on every request).
  enum class Mode : std::uint8_t {
    first,       ///< always the first tier (bind, preferred): no counter
    table,       ///< threshold: table_cut_ / table_tier_
    nested,      ///< any other threshold: cuts_ / leaves_
    interleave,  ///< per-thread next tier
    weighted,    ///< per-thread scaled bytes
    other,       ///< weighted by products, or counters shared by all threads
  };
  Policy::Kind kind_;
  Mode mode_ = Mode::nested;  // a threshold's until build_table(); others: choose_mode()
  void *only_ = nullptr;
  detail::Handles handles_;
  std::vector<std::uint64_t> weights_;
  unsigned state_ = kThreadStates;  ///< this selector's per-thread state, or none
  std::size_t state_offset_ = 0;    ///< state_ * sizeof(ThreadState), kept for thread_state()
  std::uint64_t generation_ = 0;    ///< tells a thread's state of a former owner from ours
  std::unique_ptr<std::atomic<std::uint64_t>[]> bytes_;  ///< shared counters, without state
  std::atomic<std::uint64_t> next_{0};
  std::uint64_t scale_[detail::kMaxTiers] = {};  ///< weighted: see kMaxScale
  std::vector<std::uint64_t> cuts_;  ///< threshold: leaves_[i] serves [cuts_[i-1], cuts_[i])
  std::vector<Selector *> leaves_;   ///< threshold: one per range of sizes, ascending
  std::vector<std::unique_ptr<Selector>> branches_;  ///< every leaf, owned
  // A threshold of at most kTableLeaves ranges, each served by one tier (the usual shape):
  // the pick compares n with the cuts here and reads the tier here, in the selector, with no
  // load through a leaf. Unused cuts are UINT64_MAX; mode_ is Mode::table when they are used.
  static constexpr std::size_t kTableLeaves = 4;
  std::uint64_t table_cut_[kTableLeaves - 1] = {UINT64_MAX, UINT64_MAX, UINT64_MAX};
  void *table_tier_[kTableLeaves] = {};
};

/**
 * Per thread, per counting selector (Selector::state_). initial-exec: no __tls_get_addr call
 * on the allocation path (see heap/heap.hpp, t_flags).
 */
extern constinit thread_local detail::ThreadState t_states[Selector::kThreadStates]
    [[gnu::tls_model("initial-exec")]];

inline detail::ThreadState &Selector::own_state() const noexcept {
  // A byte offset kept ready: the address is the thread's t_states plus one add. Indexing
  // t_states[state_] instead (a multiply by 144 on every request) made interleave slower in
  // two sessions of bench_heap's windows: 1.06-1.14x of jemalloc against 1.15-1.20x.
  return *reinterpret_cast<detail::ThreadState *>(reinterpret_cast<char *>(&t_states[0]) +
                                                  state_offset_);
}

inline detail::ThreadState &Selector::thread_state() noexcept {
  detail::ThreadState &s = own_state();
  if (__builtin_expect(s.generation != generation_, 0)) {
    s = detail::ThreadState{};
    s.generation = generation_;
  }
  return s;
}

// Inline: it is on every allocation of a policy of several tiers.
inline Selector::Pick Selector::pick(std::size_t n) noexcept {
  if (mode_ == Mode::table) {
    // Branches, not a computed index: a predicted branch lets the tier's load start before
    // the cut's arrives.
    void *t;
    if (n < table_cut_[0]) {
      t = table_tier_[0];
    } else if (n < table_cut_[1]) {
      t = table_tier_[1];
    } else if (n < table_cut_[2]) {
      t = table_tier_[2];
    } else {
      t = table_tier_[3];
    }
    return {nullptr, 0, t};
  }
  if (__builtin_expect(mode_ == Mode::nested, 0)) {
    const std::uint64_t *cut = cuts_.data();
    const std::size_t cuts = cuts_.size();
    std::size_t i = 0;
    while (i < cuts && n >= cut[i]) ++i;
    return leaves_[i]->pick_leaf(n);
  }
  return pick_leaf(n);
}

inline bool Selector::pick_inline(std::size_t n, Pick &out) noexcept {
  if (mode_ == Mode::table) {
    out = pick(n);
    return true;
  }
  if (__builtin_expect(mode_ == Mode::nested, 0)) return false;
  return pick_leaf_inline(n, out);
}

inline Selector::Pick Selector::pick_leaf(std::size_t n) noexcept {
  Pick p;
  if (__builtin_expect(pick_leaf_inline(n, p), 1)) return p;
  return pick_leaf_slow(n);
}

inline void Selector::weighted_choice(const detail::ThreadState &s, std::size_t n,
                                      std::size_t &first, std::uint64_t &add) const noexcept {
  std::uint64_t scale;
  if (handles_.size() == 2) {
    // Two tiers, the usual case: a compare and a select, no loop.
    first = s.bytes[1] < s.bytes[0];
    scale = first != 0 ? scale_[1] : scale_[0];
  } else {
    first = 0;
    for (std::size_t i = 1; i < handles_.size(); ++i) {
      if (s.bytes[i] < s.bytes[first]) first = i;
    }
    scale = scale_[first];
  }
  if (__builtin_expect(__builtin_mul_overflow(n, scale, &add) || add > kMaxAdd, 0)) {
    add = kMaxAdd;
  }
}

inline bool Selector::pick_leaf_inline(std::size_t n, Pick &out) noexcept {
  if (mode_ == Mode::interleave) {
    detail::ThreadState &s = own_state();
    if (__builtin_expect(s.generation != generation_, 0)) return false;
    const std::size_t first = s.next;
    if (handles_.size() == 2) {
      s.next = first ^ 1;  // two tiers, the usual case: no compare with the count
    } else if (++s.next == handles_.size()) {
      s.next = 0;
    }
    out = {this, first, tier_at(first)};
    return true;
  }
  if (mode_ == Mode::weighted) {
    detail::ThreadState &s = own_state();
    if (__builtin_expect(s.generation != generation_, 0)) return false;
    std::size_t first = 0;
    std::uint64_t add = 0;
    weighted_choice(s, n, first, add);
    // Below kRebaseAt (2^63) plus at most kMaxAdd: the sum cannot wrap.
    if (__builtin_expect(s.bytes[first] + add >= kRebaseAt, 0)) return false;
    s.bytes[first] += add;
    s.next = first;
    // An indexed load, not tier_at(): measured faster here (bench_heap window_policy_weighted),
    // where the order of tiers is less regular than interleave's.
    out = {this, first, handles_[first]};
    return true;
  }
  if (mode_ == Mode::first) {
    out = {this, 0, handles_[0]};
    return true;
  }
  return false;
}

}  // namespace tiermem::policy
