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

#include "heap/owner.hpp"
#include "topology/emulate.hpp"

namespace tiermem::heap {

std::size_t g_small_max = 14336;  // jemalloc 5.3's default; read_small_max() confirms it

namespace {

// What a spec resolves to; `key` identifies the memory so that two specs naming the same
// memory ("rank:0" and "node:0" on a one-node tier) share one heap tier.
struct Target {
  backend::Kind backend = backend::Kind::node;
  std::vector<unsigned> nodes;
  std::uint64_t node_bytes = 0;  // sum of the nodes' capacities (0: unknown)
  std::string dax_path;
  std::uint64_t size = 0, align = 0;
  std::string emulated_name;
  std::string key, name, kind;
  int rank = -1;
};

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

// Fork: see backend.hpp. The order of the fork handlers is what makes a child safe. Our
// prepare must run after jemalloc's (so the tiers' memory is copied while jemalloc holds all
// its locks and its metadata is still) and our child handler before jemalloc's (which
// re-initialises the arenas' mutexes, inside the tiers' memory: that must already be the
// child's private copy, not the parent's shared pages). pthread_atfork runs prepare handlers
// in reverse order of registration and child handlers in order, so ours must be registered
// first. The private jemalloc registers its handlers from its own constructor when the
// library loads, so ours are registered from a constructor that runs before it (a priority
// constructor precedes every plain one of the same object). Registering them later, on first
// use, let a child inherit a bin lock that a parent thread held: 25 of 300 forks hung.
void for_each_tier(void (backend::Backend::*fn)() noexcept) {
  for (auto &slot : g_slots.tier) {
    tm_tier *t = slot.load(std::memory_order_acquire);
    if (t != nullptr) (t->backend.get()->*fn)();
  }
}
void fork_prepare() { for_each_tier(&backend::Backend::prepare_fork); }
void fork_parent() { for_each_tier(&backend::Backend::parent_after_fork); }
void fork_child() {
  for_each_tier(&backend::Backend::child_after_fork);
  // A thread that vanished in the fork may have held the registry lock.
  new (&registry().mu) std::mutex();
}

__attribute__((constructor(101))) void register_fork_handlers() {
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

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

void init_locked(Registry &r) {
  r.topo = Topology::from_parts({}, {});
  try {
    r.topo = Topology::discover();
  } catch (const Error &e) {
    r.discovery_error = e.what();
  } catch (const std::exception &e) {
    r.discovery_error = std::string("tiermem: topology discovery failed: ") + e.what();
  }
  topology::apply_emulate_env(r.topo);  // throws on a malformed TIERMEM_EMULATE
  read_small_max();
  std::uint64_t largest = 0;
  for (const auto &t : r.topo.tiers()) largest = std::max<std::uint64_t>(largest, t.capacity_bytes);
  unsigned count = 0, shift = 0;
  plan_slots(largest, count, shift);
  reserve_slots(count, shift);
}

// Called with the registry lock held; initialises on first use. A failed initialisation
// (bad TIERMEM_EMULATE) is retried, and reported, on every call.
Registry &ready(std::unique_lock<std::mutex> &lock) {
  Registry &r = registry();
  lock = std::unique_lock<std::mutex>(r.mu);
  static bool done = false;
  if (!done) {
    init_locked(r);
    done = true;
  }
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_uint(std::string_view s, unsigned &out) {
  if (s.empty() || s.size() > 9) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

const char kSpecHelp[] = "use rank:N, kind:KIND, node:N, dax:daxX.Y or emulated:NAME";

std::string unknown_machine(const Registry &r) {
  return r.discovery_error.empty() ? "" : " (" + r.discovery_error + ")";
}

Target from_tier(const Registry &r, unsigned rank, const std::string &spec) {
  const Tier &t = r.topo.tiers()[rank];
  Target g;
  g.rank = static_cast<int>(rank);
  g.kind = t.kind;
  if (t.emulated) {
    g.backend = backend::Kind::emulated;
    g.emulated_name = t.emulated_name;
    g.size = t.capacity_bytes;
    g.key = g.name = "emulated:" + t.emulated_name;
    return g;
  }
  if (!t.numa_nodes.empty()) {
    g.nodes = t.numa_nodes;
    std::sort(g.nodes.begin(), g.nodes.end());
    for (unsigned n : g.nodes) {
      if (const NumaNode *node = r.topo.node(n)) g.node_bytes += node->capacity_bytes;
    }
    g.key = "nodes:";
    for (unsigned n : g.nodes) g.key += std::to_string(n) + ",";
    g.name = g.nodes.size() == 1 ? "node:" + std::to_string(g.nodes[0]) : "rank:" + std::to_string(rank);
    return g;
  }
  for (std::size_t i : t.dax_devices) {
    const DaxDevice &d = r.topo.dax_devices()[i];
    if (d.mode != DaxMode::devdax) continue;
    g.backend = backend::Kind::devdax;
    g.dax_path = d.path;
    g.size = d.size;
    g.align = d.align;
    g.key = g.name = "dax:" + d.name;
    return g;
  }
  throw Error(-ENODEV, "tiermem: tier '" + spec + "' (" + t.kind +
                           ") has no NUMA node and no device in devdax mode to allocate from; "
                           "see `tiermem list`");
}

// The kind of the topology tier a node belongs to: one memory reports one kind, however it
// was named (node:N, dax:daxX.Y in system-ram mode, or a rank holding more nodes).
std::string kind_of_node(const Registry &r, unsigned n) {
  for (const Tier &t : r.topo.tiers()) {
    if (std::find(t.numa_nodes.begin(), t.numa_nodes.end(), n) != t.numa_nodes.end()) return t.kind;
  }
  const NumaNode *node = r.topo.node(n);
  return node != nullptr && !node->subtype.empty() ? node->subtype : "node";
}

Target resolve(const Registry &r, std::string_view spec_view) {
  std::string spec(spec_view);
  std::size_t colon = spec.find(':');
  if (colon == std::string::npos) {
    throw Error(-EINVAL, "tiermem: '" + spec + "' is not a tier; " + kSpecHelp);
  }
  std::string key = lower(spec.substr(0, colon));
  std::string val = spec.substr(colon + 1);
  const auto &tiers = r.topo.tiers();
  unsigned n = 0;
  if (key == "rank") {
    if (!parse_uint(val, n)) throw Error(-EINVAL, "tiermem: '" + spec + "': rank must be a number");
    if (n >= tiers.size()) {
      throw Error(-ENOENT, "tiermem: no tier '" + spec + "': this machine has " +
                               std::to_string(tiers.size()) + " tier(s)" + unknown_machine(r) +
                               "; see `tiermem list`");
    }
    return from_tier(r, n, spec);
  }
  if (key == "kind") {
    std::string want = lower(val);
    for (unsigned i = 0; i < tiers.size(); ++i) {
      if (lower(tiers[i].kind) == want) return from_tier(r, i, spec);
    }
    throw Error(-ENOENT, "tiermem: no tier of kind '" + val + "' on this machine" +
                             unknown_machine(r) + "; see `tiermem list`");
  }
  if (key == "node") {
    if (!parse_uint(val, n)) throw Error(-EINVAL, "tiermem: '" + spec + "': node must be a number");
    const NumaNode *node = r.topo.node(n);
    if (node == nullptr || !node->online) {
      throw Error(-ENOENT, "tiermem: no online NUMA node " + val + " for '" + spec + "'" +
                               unknown_machine(r) + "; see `tiermem list`");
    }
    // A node that is a whole tier is that tier, whichever name opens it first.
    for (unsigned i = 0; i < tiers.size(); ++i) {
      if (!tiers[i].emulated && tiers[i].numa_nodes == std::vector<unsigned>{n}) {
        return from_tier(r, i, spec);
      }
    }
    Target g;
    g.nodes = {n};
    g.node_bytes = node->capacity_bytes;
    g.key = "nodes:" + std::to_string(n) + ",";
    g.name = "node:" + std::to_string(n);
    g.kind = kind_of_node(r, n);
    return g;
  }
  if (key == "dax") {
    std::string name = val.rfind("/dev/", 0) == 0 ? val.substr(5) : val;
    const DaxDevice *d = r.topo.dax_device(name);
    if (d == nullptr) {
      throw Error(-ENOENT, "tiermem: no dax device '" + val + "'" + unknown_machine(r) +
                               "; see `tiermem list` or `daxctl list`");
    }
    if (d->mode == DaxMode::system_ram) {
      // Onlined as system RAM: the device's memory is its target node's (node backend).
      if (!d->target_node) {
        throw Error(-ENODEV, "tiermem: " + name + " is in system-ram mode but its target node "
                                 "is unknown; see `daxctl list`");
      }
      unsigned target = static_cast<unsigned>(*d->target_node);
      // The same memory as node:N, so the same tier as node:N (and its kind).
      for (unsigned i = 0; i < tiers.size(); ++i) {
        if (!tiers[i].emulated && tiers[i].numa_nodes == std::vector<unsigned>{target}) {
          return from_tier(r, i, spec);
        }
      }
      Target g;
      g.nodes = {target};
      if (const NumaNode *node = r.topo.node(target)) g.node_bytes = node->capacity_bytes;
      g.key = "nodes:" + std::to_string(target) + ",";
      g.name = "node:" + std::to_string(target);
      g.kind = kind_of_node(r, target);
      return g;
    }
    if (d->mode != DaxMode::devdax) {
      throw Error(-ENODEV, "tiermem: " + name + " is " + to_string(d->mode) +
                               (d->driver.empty() ? "" : " (driver " + d->driver + ")") +
                               "; run `daxctl reconfigure-device --mode=devdax " + name +
                               "` (or --mode=system-ram)");
    }
    Target g;
    g.backend = backend::Kind::devdax;
    g.dax_path = d->path;
    g.size = d->size;
    g.align = d->align;
    g.key = g.name = "dax:" + d->name;
    g.kind = "devdax";
    return g;
  }
  if (key == "emulated") {
    std::string have;
    for (unsigned i = 0; i < tiers.size(); ++i) {
      if (!tiers[i].emulated) continue;
      if (tiers[i].emulated_name == val) return from_tier(r, i, spec);
      have += (have.empty() ? "" : ", ") + tiers[i].emulated_name;
    }
    throw Error(-ENOENT, "tiermem: no emulated tier '" + val + "' (" +
                             (have.empty() ? "TIERMEM_EMULATE is unset" : "have: " + have) +
                             "); set e.g. TIERMEM_EMULATE=" + val + ":1G");
  }
  throw Error(-EINVAL, "tiermem: '" + spec + "' is not a tier; " + kSpecHelp);
}

std::unique_ptr<backend::Backend> open_backend(const Target &g, std::byte *slot, std::size_t size) {
  switch (g.backend) {
    case backend::Kind::node:
      // Never more than the nodes hold: beyond that MPOL_BIND would mean the OOM killer,
      // not ENOMEM.
      return backend::make_node(g.nodes, backend::NodeMode::bind, slot, size, g.node_bytes);
    case backend::Kind::devdax: {
      BadRangeSource known_bad = g_bad_source.load();
      return backend::make_devdax(g.dax_path, g.size, g.align, slot, size,
                                  known_bad != nullptr ? known_bad(g.dax_path)
                                                       : std::vector<platform::ByteRange>{});
    }
    case backend::Kind::emulated:
      return backend::make_emulated(g.emulated_name, g.size, slot, size);
  }
  throw Error(-EINVAL, "tiermem: unknown backend");
}

// Repair mode (owner.hpp) maps a fresh page where a node tier's page died and binds it
// as the rest of the tier is; devdax and emulated memory cannot be replaced that way.
void set_repair_nodes(tm_tier &t, const Target &g) {
  if (g.backend != backend::Kind::node) return;
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

void set_default_decay_ms(long ms) {
  // "arenas.*_decay_ms" are the defaults jemalloc gives arenas created afterwards.
  ssize_t dirty = ms, muzzy = ms < 0 ? -1 : 0;
  if (tmje_mallctl("arenas.dirty_decay_ms", nullptr, nullptr, &dirty, sizeof dirty) != 0 ||
      tmje_mallctl("arenas.muzzy_decay_ms", nullptr, nullptr, &muzzy, sizeof muzzy) != 0)
    throw Error(-EINVAL, "tiermem: decay " + std::to_string(ms) +
                             " ms is out of range; use -1 (never), 0 (at once) or milliseconds");
}

std::vector<unsigned> kernel_nodes(std::string_view spec) {
  std::unique_lock<std::mutex> lock;
  Registry &r = ready(lock);
  Target g = resolve(r, spec);
  return g.backend == backend::Kind::node ? g.nodes : std::vector<unsigned>{};
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
  return ready(lock).topo;
}

Stats stats(tm_tier *tier) {
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
  std::uint64_t peak = tier->peak.load(std::memory_order_relaxed);
  while (s.allocated > peak &&
         !tier->peak.compare_exchange_weak(peak, s.allocated, std::memory_order_relaxed)) {
  }
  s.peak = std::max(peak, s.allocated);
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

std::string failure_message(tm_tier *tier, std::size_t n) {
  const auto &b = *tier->backend;
  std::string why = b.limit() < b.capacity()
                        ? "its limit of " + std::to_string(b.limit()) + " bytes is reached"
                        : std::to_string(b.mapped()) + " of " + std::to_string(b.capacity()) +
                              " bytes are in use";
  return "tiermem: cannot allocate " + std::to_string(n) + " bytes on tier '" + tier->name +
         "': " + why + "; free memory, raise the limit or use a preferred(...) policy";
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
  return doc.dump();
}

}  // namespace tiermem::heap
