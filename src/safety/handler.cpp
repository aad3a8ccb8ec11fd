// Everything that runs inside the SIGBUS handler, and nothing else: this file may call only
// async-signal-safe functions (tests/safety/check-async-safe.sh checks its undefined
// symbols against an allowlist).
#include <ucontext.h>

#include <cerrno>

#include "platform/signal.hpp"
#include "safety/copy_mc.hpp"
#include "safety/poison_registry.hpp"
#include "safety/sigbus.hpp"
#include "safety/tables.hpp"

namespace tiermem::safety {

namespace detail {
constinit RangeSlot ranges[kMaxRanges];
constinit CallbackSlot callbacks[kMaxCallbacks];
constinit std::atomic<OwnerLookup> owner_lookup{nullptr};
constinit std::atomic<PageRepair> page_repair{nullptr};
constinit std::atomic<int> poison_mode{static_cast<int>(PoisonMode::report)};
constinit platform::SignalChain sigbus_chain;
}  // namespace detail

using namespace detail;

namespace {

bool find_registered(std::uintptr_t a, Owner *out) noexcept {
  for (RangeSlot &s : ranges) {
    if (s.state.load(std::memory_order_acquire) != kLive) continue;
    unsigned g = s.gen.load(std::memory_order_acquire);
    std::uintptr_t start = s.start.load(std::memory_order_relaxed);
    std::size_t len = s.len.load(std::memory_order_relaxed);
    int rank = s.rank.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.gen.load(std::memory_order_relaxed) != g ||
        s.state.load(std::memory_order_relaxed) != kLive)
      continue;
    if (a - start < len) {
      out->start = reinterpret_cast<void *>(start);
      out->size = len;
      out->rank = rank;
      return true;
    }
  }
  return false;
}

#if defined(__x86_64__)
std::uintptr_t find_fixup(std::uintptr_t rip) noexcept {
  for (const std::uintptr_t *e = __start_tiermem_mc_extable; e < __stop_tiermem_mc_extable;
       e += 2) {
    if (e[0] == rip) return e[1];
  }
  return 0;
}
#endif

bool in_buffer(std::uintptr_t a, std::uintptr_t start, std::size_t n) noexcept {
  return a - start < n;
}

const char *code_name(int code) noexcept {
  switch (code) {
    case BUS_ADRALN: return "BUS_ADRALN";
    case BUS_ADRERR: return "BUS_ADRERR";
    case BUS_OBJERR: return "BUS_OBJERR";
    case BUS_MCEERR_AR: return "BUS_MCEERR_AR";
    case BUS_MCEERR_AO: return "BUS_MCEERR_AO";
    default: return "SIGBUS";
  }
}

unsigned unit_lsb(unsigned lsb) noexcept {
  if (lsb == 0) return 12;  // the kernel always sets it for poison; assume a page if not
  return lsb > 63 ? 63 : lsb;
}

// Records the poisoned unit and, the first time it is seen, tells the callbacks. `owner` is
// filled (the unit itself when nobody owns the address) for the caller's report.
void note_poison(std::uintptr_t addr, unsigned lsb, Owner *owner) noexcept {
  lsb = unit_lsb(lsb);
  std::uintptr_t unit = addr & ~((std::uintptr_t{1} << lsb) - 1);
  if (!find_owner(reinterpret_cast<void *>(addr), owner)) {
    owner->start = reinterpret_cast<void *>(unit);
    owner->size = std::size_t{1} << lsb;
    owner->rank = -1;
  }
  if (!poison_registry().record(addr, lsb, owner->rank)) return;
  std::uintptr_t ostart = reinterpret_cast<std::uintptr_t>(owner->start);
  std::size_t offset = unit > ostart ? unit - ostart : 0;
  for (CallbackSlot &c : callbacks) {
    if (c.state.load(std::memory_order_acquire) != kLive) continue;
    PoisonCallback fn = c.fn.load(std::memory_order_relaxed);
    void *user = c.user.load(std::memory_order_relaxed);
    if (fn) fn(owner->start, owner->size, owner->rank, offset, user);
  }
}

// The outcome of a consumed poison, for the report's last words. `repair_rc`: 0 repaired,
// 1 repair not asked for, else the negative errno of the refused or failed repair.
void report_consumed(const siginfo_t *info, unsigned lsb, const Owner &o, int repair_rc) noexcept {
  lsb = unit_lsb(lsb);
  std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  std::uintptr_t unit = addr & ~((std::uintptr_t{1} << lsb) - 1);
  std::uintptr_t ostart = reinterpret_cast<std::uintptr_t>(o.start);
  platform::SignalSafeWriter w(2);
  w.str("tiermem: uncorrectable memory error (SIGBUS ")
      .str(code_name(info->si_code))
      .str(") at ")
      .hex(addr)
      .str(", poisoned unit of ")
      .dec(std::uint64_t{1} << lsb)
      .str(" bytes at ")
      .hex(unit)
      .str(": allocation ")
      .hex(ostart)
      .str(" of ")
      .dec(o.size)
      .str(" bytes on tier ")
      .sdec(o.rank);  // the C ABI's and the message's "tier N" is the rank
  if (o.tier_name) w.str(" (").str(o.tier_name).str(")");
  w.str(" lost its data at offset ").dec(unit > ostart ? unit - ostart : 0);
  if (repair_rc == 0) {
    w.str("; repaired: the unit is a fresh zeroed page now and the program continues "
          "(TIERMEM_POISON=repair)\n");
  } else if (repair_rc == -EOPNOTSUPP) {
    w.str("; not repaired: only a node tier's pages can be replaced, this memory is a device "
          "or a file; passing SIGBUS on to the program's handler or the default action\n");
  } else if (repair_rc < 0) {
    w.str("; repair failed (errno ").dec(static_cast<std::uint64_t>(-repair_rc))
        .str("); passing SIGBUS on to the program's handler or the default action\n");
  } else {
    w.str("; passing SIGBUS on to the program's handler or the default action\n");
  }
  w.flush();
}

// Repair mode: swap in fresh pages for the poisoned unit, then forget it (it is good memory
// now). Returns 0, or why not (see report_consumed()).
int try_repair(std::uintptr_t addr, unsigned lsb, const Owner &o) noexcept {
  if (detail::poison_mode.load(std::memory_order_acquire) !=
      static_cast<int>(PoisonMode::repair)) {
    return 1;
  }
  PageRepair fn = page_repair.load(std::memory_order_acquire);
  if (fn == nullptr || o.heap_tier == nullptr) return -EOPNOTSUPP;
  lsb = unit_lsb(lsb);
  std::size_t len = std::size_t{1} << lsb;
  std::uintptr_t unit = addr & ~(static_cast<std::uintptr_t>(len) - 1);
  if (int rc = fn(o, unit, len); rc != 0) return rc;
  poison_registry().forget(unit, len);
  return 0;
}

}  // namespace

void detail::on_sigbus(int sig, siginfo_t *info, void *ucontext) {
  int saved_errno = errno;
  if (!handle_sigbus(sig, info, ucontext)) sigbus_chain.forward(sig, info, ucontext);
  errno = saved_errno;
}

bool handle_sigbus(int sig, siginfo_t *info, void *ucontext) noexcept {
  if (sig != SIGBUS || !platform::sent_by_kernel(info)) return false;
  int code = info->si_code;
  std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  bool poison = code == BUS_MCEERR_AR || code == BUS_MCEERR_AO;
  unsigned lsb = poison ? static_cast<unsigned>(info->si_addr_lsb) : 0;
  Owner owner;

  // An action-optional report is asynchronous: it says nothing about the interrupted
  // instruction, so it never ends a copy.
  if (code != BUS_MCEERR_AO) {
#if defined(__x86_64__)
    if (ucontext) {
      auto *uc = static_cast<ucontext_t *>(ucontext);
      std::uintptr_t rip = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
      if (std::uintptr_t fixup = find_fixup(rip)) {
        if (poison) note_poison(addr, lsb, &owner);
        uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(fixup);
        return true;
      }
    }
#endif
    PortableFrame *f = current_portable_frame();
    if (f && (in_buffer(addr, f->src, f->n) || in_buffer(addr, f->dst, f->n))) {
      if (poison) note_poison(addr, lsb, &owner);
      f->fault = addr;
      siglongjmp(f->env, 1);
    }
  }

  if (!poison || !find_owner(info->si_addr, &owner)) return false;
  note_poison(addr, lsb, &owner);
  if (code == BUS_MCEERR_AO) return true;
  int repair_rc = try_repair(addr, lsb, owner);
  report_consumed(info, lsb, owner, repair_rc);
  return repair_rc == 0;  // repaired: resume the load, which now reads the fresh page
}

bool find_owner(const void *addr, Owner *out) noexcept {
  if (OwnerLookup fn = owner_lookup.load(std::memory_order_acquire)) {
    if (fn(addr, out)) return true;
  }
  return find_registered(reinterpret_cast<std::uintptr_t>(addr), out);
}

}  // namespace tiermem::safety
