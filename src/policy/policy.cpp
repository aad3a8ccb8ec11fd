#include "policy/policy.hpp"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <numeric>

#include "tiermem/error.hpp"
#include "platform/text.hpp"
#include "topology/spec.hpp"

namespace tiermem::policy {
namespace {

// The policy grammar for messages; the tier specs' part is topology's (kSpecGrammar).
const std::string &grammar() {
  static const std::string text =
      std::string("policies: TIER, bind(TIER), preferred(TIER, ...), interleave(TIER, ...), "
                  "weighted(TIER=W, ...), threshold(SIZE, POLICY, POLICY), auto(FAST<=SIZE, SLOW); TIER: ") +
      topology::kSpecGrammar + ", optionally <=SIZE";
  return text;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Policy parse_all() {
    Policy p = parse_policy();
    skip_ws();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(text_.substr(pos_)) + "'");
    return p;
  }

 private:
  [[noreturn]] void fail(const std::string &why) const {
    throw Error(-EINVAL, "tiermem: policy '" + std::string(text_) + "': " + why + " at column " +
                             std::to_string(pos_ + 1) + "; " + grammar());
  }
  void skip_ws() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  // A run of characters that may appear in a spec, a size or a weight.
  std::string_view word() {
    skip_ws();
    std::size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-' ||
          c == '.' || c == '/') {
        ++pos_;
      } else {
        break;
      }
    }
    return text_.substr(start, pos_ - start);
  }
  std::uint64_t size_word(const char *what) {
    std::size_t at = pos_;
    std::string_view w = word();
    if (w.empty()) fail(std::string("expected ") + what);
    try {
      return platform::parse_size(w, "policy size");
    } catch (const Error &) {
      pos_ = at;
      fail("'" + std::string(w) + "' is not a size (use e.g. 4096, 64K, 2G)");
    }
  }

  TierTerm tier_term() {
    std::size_t at = pos_;
    std::string_view spec = word();
    if (spec.empty()) fail("expected a tier");
    if (!topology::well_formed_spec(spec)) {
      pos_ = at;
      skip_ws();
      fail("'" + std::string(spec) + "' is not a tier");
    }
    TierTerm t;
    t.spec = std::string(spec);
    skip_ws();
    if (text_.substr(pos_, 2) == "<=") {
      pos_ += 2;
      t.limit = size_word("a size after '<='");
    }
    return t;
  }

  Policy parse_policy() {
    skip_ws();
    std::size_t at = pos_;
    std::string_view name = word();
    skip_ws();
    if (pos_ >= text_.size() || text_[pos_] != '(') {
      pos_ = at;
      Policy p;
      p.tiers.push_back(tier_term());
      return p;
    }
    Policy p;
    if (name == "bind") p.kind = Policy::Kind::bind;
    else if (name == "preferred") p.kind = Policy::Kind::preferred;
    else if (name == "interleave") p.kind = Policy::Kind::interleave;
    else if (name == "weighted") p.kind = Policy::Kind::weighted;
    else if (name == "threshold") p.kind = Policy::Kind::threshold;
    else if (name == "auto") p.kind = Policy::Kind::automatic;
    else {
      pos_ = at;
      fail("unknown policy '" + std::string(name) + "'");
    }
    expect('(');
    if (p.kind == Policy::Kind::automatic) return parse_auto(std::move(p), at);
    if (p.kind == Policy::Kind::threshold) {
      // Each level is a frame of this parser (and of to_string and Selector): without a bound,
      // a long enough TIERMEM_POLICY would overflow the stack instead of being refused.
      if (++depth_ > kMaxDepth)
        fail("threshold() nests more than " + std::to_string(kMaxDepth) + " deep");
      p.threshold = size_word("a size");
      if (p.threshold == 0) fail("the threshold must be above 0");
      expect(',');
      p.small = std::make_unique<Policy>(parse_policy());
      expect(',');
      p.large = std::make_unique<Policy>(parse_policy());
      expect(')');
      --depth_;
      return p;
    }
    do {
      TierTerm t = tier_term();
      if (p.kind == Policy::Kind::weighted) {
        expect('=');
        std::string_view w = word();
        std::uint64_t v = 0;
        for (char c : w) v = (c >= '0' && c <= '9' && v <= 1000000) ? v * 10 + (c - '0') : 0;
        if (w.empty() || v == 0 || v > 1000000) fail("expected a weight from 1 to 1000000");
        t.weight = v;
      }
      p.tiers.push_back(std::move(t));
    } while (eat(','));
    expect(')');
    if (p.kind == Policy::Kind::bind && p.tiers.size() != 1) fail("bind takes exactly one tier");
    if (p.tiers.size() > 16) fail("at most 16 tiers per policy");
    return p;
  }

  // auto(FAST<=SIZE, SLOW), after its '('. `at`: where its name began.
  Policy parse_auto(Policy p, std::size_t at) {
    if (depth_ > 0) {
      pos_ = at;
      fail("auto() is a whole policy, not a branch of threshold(); give it alone");
    }
    TierTerm fast = tier_term();
    if (!fast.limit)
      fail("auto() needs a budget on its fast tier, as in auto(" + fast.spec +
           "<=64M, SLOW): the most of its blocks on " + fast.spec + " at once");
    if (*fast.limit == 0) fail("the budget of auto() must be above 0");
    expect(',');
    TierTerm slow = tier_term();
    if (slow.limit)
      fail("auto()'s slow tier takes no '<=' (the budget belongs to the fast tier); drop it");
    expect(')');
    p.tiers.push_back(std::move(fast));
    p.tiers.push_back(std::move(slow));
    return p;
  }

  static constexpr int kMaxDepth = 16;
  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

std::string size_text(std::uint64_t n) {
  const char *units = "KMGT";
  int u = -1;
  while (n != 0 && n % 1024 == 0 && u < 3) {
    n /= 1024;
    ++u;
  }
  return std::to_string(n) + (u >= 0 ? std::string(1, units[u]) : "");
}

std::string term_text(const TierTerm &t, bool weighted) {
  std::string s = t.spec;
  if (t.limit) s += "<=" + size_text(*t.limit);
  if (weighted) s += "=" + std::to_string(t.weight);
  return s;
}

}  // namespace

Policy parse(std::string_view text) { return Parser(text).parse_all(); }

std::string to_string(const Policy &p) {
  static const char *names[] = {"bind", "preferred", "interleave", "weighted", "threshold", "auto"};
  std::string s = std::string(names[static_cast<int>(p.kind)]) + "(";
  if (p.kind == Policy::Kind::threshold) {
    return s + size_text(p.threshold) + ", " + to_string(*p.small) + ", " + to_string(*p.large) +
           ")";
  }
  for (std::size_t i = 0; i < p.tiers.size(); ++i) {
    s += (i ? ", " : "") + term_text(p.tiers[i], p.kind == Policy::Kind::weighted);
  }
  return s + ")";
}

Policy home_policy(const Policy &p) {
  Policy out;
  if (p.kind == Policy::Kind::automatic) {
    out.tiers.push_back(TierTerm{p.tiers[1].spec, std::nullopt, 1});
    return out;
  }
  out.kind = p.kind;
  out.tiers = p.tiers;
  out.threshold = p.threshold;
  if (p.small) out.small = std::make_unique<Policy>(home_policy(*p.small));
  if (p.large) out.large = std::make_unique<Policy>(home_policy(*p.large));
  return out;
}

namespace {

std::atomic<std::uint32_t> g_claimed{0};       // one bit per t_states index in use
std::atomic<std::uint64_t> g_generations{0};

}  // namespace

constinit thread_local detail::ThreadState t_states[Selector::kThreadStates]
    [[gnu::tls_model("initial-exec")]] = {};

void Selector::claim_thread_state() noexcept {
  std::uint32_t cur = g_claimed.load(std::memory_order_relaxed);
  while (handles_.size() <= detail::kMaxTiers) {
    std::uint32_t free_bits = ~cur & ((std::uint32_t{1} << kThreadStates) - 1);
    if (free_bits == 0) break;
    unsigned i = static_cast<unsigned>(__builtin_ctz(free_bits));
    if (g_claimed.compare_exchange_weak(cur, cur | (std::uint32_t{1} << i),
                                        std::memory_order_relaxed)) {
      state_ = i;
      // A thread's state left by a former owner of index i carries another generation.
      generation_ = g_generations.fetch_add(1, std::memory_order_relaxed) + 1;
      return;
    }
  }
  bytes_ = std::make_unique<std::atomic<std::uint64_t>[]>(handles_.size());
}

Selector::~Selector() {
  if (state_ < kThreadStates) {
    g_claimed.fetch_and(~(std::uint32_t{1} << state_), std::memory_order_relaxed);
  }
}

void Selector::scale_weights() noexcept {
  std::uint64_t lcm = 1;
  for (std::uint64_t w : weights_) {
    lcm = lcm / std::gcd(lcm, w) * w;
    if (lcm > kMaxScale) return;  // scale_[0] stays 0: the exact products instead
  }
  for (std::size_t i = 0; i < weights_.size(); ++i) scale_[i] = lcm / weights_[i];
}

// Subtracting the smallest counter from all keeps which tier is furthest behind, exactly:
// each counter grew only while it was the smallest, by at most kMaxAdd, so none is more than
// kMaxAdd above the smallest.
void Selector::rebase(detail::ThreadState &s) noexcept {
  const std::size_t count = handles_.size();
  const std::uint64_t low = *std::min_element(s.bytes, s.bytes + count);
  for (std::size_t i = 0; i < count; ++i) s.bytes[i] -= low;
}

// Without per-thread state: the counters every thread shares.
std::size_t Selector::first_shared(std::size_t n) noexcept {
  if (kind_ == Policy::Kind::interleave) {
    return next_.fetch_add(1, std::memory_order_relaxed) % handles_.size();
  }
  std::size_t first = detail::furthest_behind(
      weights_, [&](std::size_t i) { return bytes_[i].load(std::memory_order_relaxed); });
  bytes_[first].fetch_add(n, std::memory_order_relaxed);
  return first;
}

void Selector::choose_mode() noexcept {
  const bool counts = kind_ == Policy::Kind::interleave || kind_ == Policy::Kind::weighted;
  if (state_ < kThreadStates) state_offset_ = state_ * sizeof(detail::ThreadState);
  if (!counts) {
    mode_ = Mode::first;
  } else if (state_ < kThreadStates && kind_ == Policy::Kind::interleave) {
    mode_ = Mode::interleave;
  } else if (state_ < kThreadStates && scale_[0] != 0) {
    mode_ = Mode::weighted;
  } else {
    mode_ = Mode::other;
  }
}

std::size_t Selector::pick_other(std::size_t n) noexcept {
  if (state_ >= kThreadStates) return first_shared(n);
  detail::ThreadState &s = thread_state();
  std::size_t first = detail::furthest_behind(weights_, [&](std::size_t i) { return s.bytes[i]; });
  s.bytes[first] += n;
  return first;
}

Selector::Pick Selector::pick_leaf_slow(std::size_t n) noexcept {
  if (mode_ == Mode::interleave || mode_ == Mode::weighted) {
    detail::ThreadState &s = thread_state();  // a former owner's state reset
    Pick p;
    if (pick_leaf_inline(n, p)) return p;
    // Weighted with a rebase due: the counters move down together once the chosen one is
    // past kRebaseAt.
    std::size_t first = 0;
    std::uint64_t add = 0;
    weighted_choice(s, n, first, add);
    s.bytes[first] += add;
    rebase(s);
    s.next = first;
    return {this, first, handles_[first]};
  }
  const std::size_t first = pick_other(n);
  return {this, first, handles_[first]};
}

Selector::Pick Selector::picked(void *tier) noexcept {
  if (mode_ == Mode::table) return {nullptr, 0, tier};
  if (mode_ == Mode::interleave) {
    const std::size_t next = own_state().next;
    return {this, next == 0 ? handles_.size() - 1 : next - 1, tier};
  }
  if (mode_ == Mode::weighted) return {this, own_state().next, tier};
  return {this, 0, tier};
}

void Selector::build_table() noexcept {
  if (leaves_.size() > kTableLeaves) return;
  for (const Selector *leaf : leaves_) {
    if (leaf->only_ == nullptr) return;
  }
  for (std::size_t i = 0; i < cuts_.size(); ++i) table_cut_[i] = cuts_[i];
  // Past the last cut every entry is the last range's tier: n == UINT64_MAX passes the unused
  // cuts too.
  for (std::size_t i = 0; i < kTableLeaves; ++i) {
    table_tier_[i] = leaves_[i < leaves_.size() ? i : leaves_.size() - 1]->only_;
  }
  mode_ = Mode::table;
}

std::size_t Selector::candidates_from(Pick p, void **out, std::size_t max) noexcept {
  if (p.sel == nullptr) {
    if (max == 0) return 0;
    out[0] = p.tier;
    return 1;
  }
  const auto &handles = p.sel->handles_;
  const std::size_t size = handles.size();
  std::size_t k = size < max ? size : max;
  // From `first` round the tiers, wrapping by a compare rather than a division.
  std::size_t i = p.first;
  for (std::size_t j = 0; j < k; ++j) {
    out[j] = handles[i];
    if (++i == size) i = 0;
  }
  return k;
}

}  // namespace tiermem::policy
