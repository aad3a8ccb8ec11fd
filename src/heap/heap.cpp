#include "heap/heap.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include <nlohmann/json.hpp>

#include "heap/fork.hpp"
#include "heap/owner.hpp"
#include "heap/publish.hpp"
#include "platform/process.hpp"
#include "topology/emulate.hpp"
#include "topology/spec.hpp"

namespace tiermem::heap {

std::size_t g_small_max = 14336;  // jemalloc 5.3's default; read_small_max() confirms it

namespace {

using Target = topology::TierTarget;
using Source = topology::TierTarget::Source;

struct Registry {
  std::mutex mu;
  Topology topo = Topology::from_parts({}, {});
  std::string discovery_error;  // why the machine's tiers are unknown, if they are
  std::map<std::string, tm_tier *> by_key;
  std::vector<std::unique_ptr<tm_tier>> owned;
  unsigned next_slot = 0;
};

// Immortal on purpose: tiers must stay valid while other threads and atexit handlers still
// allocate and free during process exit.
Registry &registry() {
  static Registry *r = std::make_unique<Registry>().release();
  return *r;
}

std::atomic<std::uint64_t> g_foreign{0};
std::atomic<BadRangeSource> g_bad_source{nullptr};

// The largest small size class (jemalloc's SC_SMALL_MAXCLASS) of this jemalloc build.
void read_small_max() {
  unsigned nbins = 0;
  std::size_t sz = sizeof nbins;
  if (tmje_mallctl("arenas.nbins", &nbins, &sz, nullptr, 0) != 0 || nbins == 0) return;
  std::string name = "arenas.bin." + std::to_string(nbins - 1) + ".size";
  std::size_t v = 0;
  sz = sizeof v;
  if (tmje_mallctl(name.c_str(), &v, &sz, nullptr, 0) == 0 && v != 0) g_small_max = v;
}

// What specs are resolved against: discovery plus TIERMEM_EMULATE. Neither jemalloc nor the
// slots are touched, so a caller that only checks specs (the preload library at start, before
// the program allocates anything) pays for no heap.
void discover_locked(Registry &r) {
  r.topo = Topology::from_parts({}, {});
  try {
    r.topo = Topology::discover();
  } catch (const Error &e) {
    r.discovery_error = e.what();
  } catch (const std::exception &e) {
    r.discovery_error = std::string("tiermem: topology discovery failed: ") + e.what();
  }
  topology::apply_emulate_env(r.topo);  // throws on a malformed TIERMEM_EMULATE
}

// The heap proper, before its first tier opens: fork handlers, jemalloc, the slots.
void open_heap_locked(Registry &r) {
  register_fork_handlers();  // before read_small_max() initialises jemalloc
  read_small_max();
  std::uint64_t largest = 0;
  for (const auto &t : r.topo.tiers()) largest = std::max<std::uint64_t>(largest, t.capacity_bytes);
  unsigned count = 0, shift = 0, min_shift = 0;
  plan_slots(largest, count, shift, min_shift);
  reserve_slots(count, shift, min_shift);
  publish_open();  // the statistics `tiermem stat` reads (publish.hpp)
}

// Called with the registry lock held; discovers on first use. A failed discovery (bad
// TIERMEM_EMULATE) is retried, and reported, on every call.
Registry &known(std::unique_lock<std::mutex> &lock) {
  Registry &r = registry();
  lock = std::unique_lock<std::mutex>(r.mu);
  static bool discovered = false;
  if (!discovered) {
    discover_locked(r);
    discovered = true;
  }
  return r;
}

// known(), and the heap opened: what opening a tier needs.
Registry &ready(std::unique_lock<std::mutex> &lock) {
  Registry &r = known(lock);
  static bool opened = false;
  if (!opened) {
    open_heap_locked(r);
    opened = true;
  }
  return r;
}

Target resolve(const Registry &r, std::string_view spec) {
  return topology::resolve_spec(r.topo, spec, r.discovery_error);
}

std::unique_ptr<backend::Backend> open_backend(const Target &g, std::byte *slot, std::size_t size) {
  switch (g.source) {
    case Source::nodes:
      // Never more than the nodes hold: beyond that MPOL_BIND would mean the OOM killer,
      // not ENOMEM.
      return backend::make_node(g.nodes, backend::NodeMode::bind, slot, size, g.node_bytes);
    case Source::devdax: {
      BadRangeSource known_bad = g_bad_source.load();
      return backend::make_devdax(g.dax_path, g.size, g.align, slot, size,
                                  known_bad != nullptr ? known_bad(g.dax_path)
                                                       : std::vector<platform::ByteRange>{});
    }
    case Source::emulated:
      return backend::make_emulated(g.emulated_name, g.size, slot, size);
  }
  throw Error(-EINVAL, "tiermem: unknown backend");
}

// Repair mode (owner.hpp) maps a fresh page where a node tier's page died and binds it
// as the rest of the tier is; devdax and emulated memory cannot be replaced that way.
void set_repair_nodes(tm_tier &t, const Target &g) {
  if (g.source != Source::nodes) return;
  constexpr unsigned kBits = 8 * sizeof(unsigned long);
  for (unsigned n : g.nodes) {
    if (n >= tm_tier::kMaskWords * kBits) return;  // beyond the mask: leave it unrepairable
    t.node_mask[n / kBits] |= 1UL << (n % kBits);
  }
  t.repairable = true;
}

template <class T>
void arena_ctl(unsigned arena, const char *leaf, T value) {
  std::string name = "arena." + std::to_string(arena) + "." + leaf;
  tmje_mallctl(name.c_str(), nullptr, nullptr, &value, sizeof value);
}

}  // namespace

void registry_after_fork_child() noexcept {
  // A thread that vanished in the fork may have held the registry lock.
  new (&registry().mu) std::mutex();
}

void set_default_decay_ms(long ms) {
  register_fork_handlers();  // before this first jemalloc call initialises jemalloc
  // "arenas.*_decay_ms" are the defaults jemalloc gives arenas created afterwards.
  ssize_t dirty = ms, muzzy = ms < 0 ? -1 : 0;
  if (tmje_mallctl("arenas.dirty_decay_ms", nullptr, nullptr, &dirty, sizeof dirty) != 0 ||
      tmje_mallctl("arenas.muzzy_decay_ms", nullptr, nullptr, &muzzy, sizeof muzzy) != 0)
    throw Error(-EINVAL, "tiermem: decay " + std::to_string(ms) +
                             " ms is out of range; use -1 (never), 0 (at once) or milliseconds");
}

std::vector<unsigned> kernel_nodes(std::string_view spec) {
  std::unique_lock<std::mutex> lock;
  Registry &r = known(lock);
  Target g = resolve(r, spec);
  return g.source == Source::nodes ? g.nodes : std::vector<unsigned>{};
}

void set_bad_range_source(BadRangeSource source) noexcept { g_bad_source.store(source); }

tm_tier *find(std::string_view spec) {
  std::unique_lock<std::mutex> lock;
  Registry &r = ready(lock);
  Target g = resolve(r, spec);
  if (auto it = r.by_key.find(g.key); it != r.by_key.end()) return it->second;
  if (r.next_slot >= slot_count()) {
    throw Error(-ENOSPC, "tiermem: cannot open '" + std::string(spec) + "': all " +
                             std::to_string(slot_count()) + " tier slots are in use");
  }
  unsigned slot = r.next_slot;
  auto tier = std::make_unique<tm_tier>();
  tier->slot = slot;
  tier->name = g.name;
  tier->kind = g.kind;
  tier->rank = g.rank;
  tier->backend = open_backend(g, slot_address(slot), slot_size());
  ++r.next_slot;  // a slot whose arena failed stays burnt: jemalloc may have used part of it
  tier->extents = std::make_unique<ExtentMap>(slot_address(slot), slot_size(), tier->backend->hooks());
  set_repair_nodes(*tier, g);
  void *hooks = tier->extents->hooks();
  unsigned arena = 0;
  std::size_t sz = sizeof arena;
  if (int rc = tmje_mallctl("arenas.create", &arena, &sz, &hooks, sizeof hooks); rc != 0) {
    throw Error(-rc, "tiermem: jemalloc refused an arena for '" + g.name + "': " +
                         std::strerror(rc));
  }
  tier->arena = arena;
  tier->arena_flags = je::arena(arena);
  tier->backend->exclude_arena_base();
  // Grow a small tier in steps it can satisfy: jemalloc's retained growth asks for ever
  // larger extents and fails once the next step no longer fits.
  std::size_t cap = tier->backend->capacity();
  if (cap < (std::size_t{1} << 33)) {
    arena_ctl<std::size_t>(arena, "retain_grow_limit", std::max<std::size_t>(cap / 8, 2u << 20));
  }
  tm_tier *t = tier.get();
  r.owned.push_back(std::move(tier));
  r.by_key.emplace(g.key, t);
  g_slots.tier[slot].store(t, std::memory_order_release);
  publish_tier(slot, t->name, t->kind, t->rank, t->backend->capacity());
  return t;
}

std::vector<tm_tier *> active_tiers() {
  std::vector<tm_tier *> out;
  for (auto &slot : g_slots.tier) {
    if (tm_tier *t = slot.load(std::memory_order_acquire)) out.push_back(t);
  }
  return out;
}

const Topology &topology() {
  std::unique_lock<std::mutex> lock;
  return known(lock).topo;
}

Stats stats(tm_tier *tier) {
  if (t_net[tier->slot] != 0) fold_net(tier->slot);  // the reading thread's own bytes, exact
  Stats s;
  s.capacity = tier->backend->capacity();
  s.limit = tier->backend->limit();
  s.mapped = tier->backend->mapped();
  std::uint64_t epoch = 1;
  std::size_t esz = sizeof epoch;
  tmje_mallctl("epoch", &epoch, &esz, &epoch, sizeof epoch);
  for (const char *part : {"small", "large"}) {
    std::string name =
        "stats.arenas." + std::to_string(tier->arena) + "." + part + ".allocated";
    std::size_t v = 0, vsz = sizeof v;
    if (tmje_mallctl(name.c_str(), &v, &vsz, nullptr, 0) == 0) s.allocated += v;
  }
  // Blocks cached by threads count in `allocated` but not in the folded live bytes: a peak
  // below `allocated` would read as a contradiction.
  raise_peak(tier, s.allocated);
  s.peak = tier->peak.load(std::memory_order_relaxed);
  s.failures = tier->failures.load(std::memory_order_relaxed);
  s.fallbacks = tier->fallbacks.load(std::memory_order_relaxed);
  s.quarantined = tier->quarantined_bytes.load(std::memory_order_relaxed);
  s.quarantined_blocks = tier->quarantined_blocks.load(std::memory_order_relaxed);
  s.repaired = tier->repaired_bytes.load(std::memory_order_relaxed);
  return s;
}

void quarantine(tm_tier *tier, void *p) noexcept {
  // Never freed: jemalloc keeps counting the block as live, so neither it nor the slab or
  // extent around it is handed out or merged again.
  tier->quarantined_bytes.fetch_add(usable_size(p), std::memory_order_relaxed);
  tier->quarantined_blocks.fetch_add(1, std::memory_order_relaxed);
}

void failure_message(tm_tier *tier, std::size_t n, char *out, std::size_t cap) noexcept {
  const auto &b = *tier->backend;
  char why[96];
  if (b.limit() < b.capacity()) {
    std::snprintf(why, sizeof why, "its limit of %zu bytes is reached", b.limit());
  } else {
    std::snprintf(why, sizeof why, "%zu of %zu bytes are in use", b.mapped(), b.capacity());
  }
  std::snprintf(out, cap,
                "tiermem: cannot allocate %zu bytes on tier '%s': %s; free memory, raise the "
                "limit or use a preferred(...) policy",
                n, tier->name.c_str(), why);
}

void report_foreign(const void *p, const char *call) noexcept {
  std::uint64_t n = g_foreign.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n <= 8) {
    std::fprintf(stderr,
                 "tiermem: %s(%p): not a pointer tiermem gave out; ignored (not freed)%s\n", call,
                 p, n == 8 ? "; further reports suppressed" : "");
  }
}

std::uint64_t foreign_count() noexcept { return g_foreign.load(std::memory_order_relaxed); }

std::string stats_json() {
  nlohmann::json doc;
  doc["tiers"] = nlohmann::json::array();
  for (tm_tier *t : active_tiers()) {
    Stats s = stats(t);
    nlohmann::json j;
    j["name"] = t->name;
    j["kind"] = t->kind;
    j["rank"] = t->rank < 0 ? nlohmann::json(nullptr) : nlohmann::json(t->rank);
    j["backend"] = t->backend->description();
    j["capacity"] = s.capacity;
    j["limit"] = s.limit == UINT64_MAX ? nlohmann::json(nullptr) : nlohmann::json(s.limit);
    j["mapped"] = s.mapped;
    j["allocated"] = s.allocated;
    j["peak"] = s.peak;
    j["failures"] = s.failures;
    j["fallbacks"] = s.fallbacks;
    j["quarantined"] = s.quarantined;
    j["quarantined_blocks"] = s.quarantined_blocks;
    j["repaired"] = s.repaired;
    doc["tiers"].push_back(std::move(j));
  }
  doc["foreign_frees"] = foreign_count();
  // Several processes of one job (a shell script, a compiler driver, a shim) print to the
  // same stderr at exit: each line must say whose it is. getpid() now, not at start: a
  // forked child prints its own.
  doc["pid"] = static_cast<long>(::getpid());
  doc["command"] = platform::command_name();
  // A name set with prctl(PR_SET_NAME) may be any bytes: replaced, never a throw.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tiermem::heap
