// tiermem's SIGBUS handler: recovers faults in the copy routines, records and reports poison
// in tiermem memory, forwards everything else to the program's previous disposition.
#pragma once
#include <atomic>
#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace tiermem::safety {

/** The allocation that owns an address: what a poison report names. */
struct Owner {
  void *start = nullptr;
  std::size_t size = 0;
  int rank = -1;                    ///< the owning tier's rank (tm_tier_rank()), -1 when unknown
  const char *tier_name = nullptr;  ///< e.g. "node:1", "dax:dax0.0"; null when unknown
  void *heap_tier = nullptr;        ///< the heap's tier (for repair), null for other memory
};

/**
 * Maps an address to its owning allocation. The heap registers one so that poison reports
 * name the allocation and tier. Runs inside the SIGBUS handler: async-signal-safe, no locks.
 * Returns false when the address is not the heap's.
 */
using OwnerLookup = bool (*)(const void *addr, Owner *out) noexcept;

/** Sets (or clears with nullptr) the heap's lookup. */
void set_owner_lookup(OwnerLookup fn) noexcept;

/**
 * Replaces the poisoned pages [start, start + len) of `owner`'s memory with fresh zeroed
 * ones (the heap's repair for node tiers). Returns 0, -EOPNOTSUPP when that memory cannot
 * be replaced (device or file memory), or -errno. Runs inside the SIGBUS handler.
 */
using PageRepair = int (*)(const Owner &owner, std::uintptr_t start, std::size_t len) noexcept;
void set_page_repair(PageRepair fn) noexcept;

/** What a plain load or store that consumes poison in tiermem memory leads to. */
enum class PoisonMode : int { report = 0, repair = 1 };
void set_poison_mode(PoisonMode m) noexcept;
PoisonMode poison_mode() noexcept;
/**
 * Parses TIERMEM_POISON ("report" or "repair"; unset or empty: leave the mode alone) and
 * applies it. Returns 0, or -EINVAL with a one-line message in `*error`.
 */
int apply_poison_env(const char **error) noexcept;

/** The step of init() that failed, for the api's message. */
enum class InitStep { none, poison_env, handler, alt_stack };
/**
 * What tm_safety_init() does: applies TIERMEM_POISON, installs the handler and gives the
 * calling thread an alternate signal stack. Returns 0 or -errno with `*failed` (may be null)
 * naming the step; for poison_env, `*why` (may be null) says what is wrong with the value.
 */
int init(InitStep *failed = nullptr, const char **why = nullptr) noexcept;
/** What tm_safety_thread_init() does: an alternate signal stack for the calling thread. */
int thread_init() noexcept;

/** The owner of `addr`: the heap's lookup first, then the registered ranges. */
bool find_owner(const void *addr, Owner *out) noexcept;

enum class CopyRoutine;  // copy_mc.hpp

/**
 * TIERMEM_COPY_MC, read once by install_handler(): 1 and `*chosen` set when it names a copy
 * routine this machine runs, 0 when it is unset or empty, -1 when it names none: then
 * `message` (of `n` bytes) receives the one line install_handler() writes to stderr, naming
 * the value and the routines there are; the timed choice is used, as when unset. No
 * allocation, no stdio: it runs wherever the handler is first installed.
 */
int copy_routine_from_env(CopyRoutine *chosen, char *message, std::size_t n) noexcept;

/**
 * Installs the handler, or re-installs it in front of a handler the program installed
 * after ours (thread-safe; a sigaction query when nothing changed). Returns 0 or -errno.
 */
int install_handler() noexcept;
namespace detail {
extern std::atomic<bool> handler_ready;
}
/** True once install_handler() succeeded. One load: tm_copy_mc() asks on every call. */
inline bool handler_installed() noexcept {
  return detail::handler_ready.load(std::memory_order_acquire);
}

/**
 * The handler's decision for one SIGBUS, without forwarding: true when the fault was
 * tiermem's and has been dealt with (RIP moved to a fix-up, or an action-optional report
 * recorded). May siglongjmp into a portable copy. For a consumed poison in tiermem memory it
 * records and reports, then returns false so the caller forwards — or, in repair mode, true
 * once the lost page is replaced (the load resumes on the fresh page). Async-signal-safe.
 */
bool handle_sigbus(int sig, siginfo_t *info, void *ucontext) noexcept;

/** Registered-range table (tm_safety_register_range). Lock-free; lookups are signal-safe. */
int register_range(const void *addr, std::size_t len, int rank) noexcept;
int unregister_range(const void *addr) noexcept;

}  // namespace tiermem::safety

namespace tiermem::safety {

using PoisonCallback = void (*)(void *ptr, std::size_t size, int rank, std::size_t offset,
                                void *user);
/** At most 8 callbacks. Returns 0, -EINVAL or -ENOSPC. */
int add_poison_callback(PoisonCallback fn, void *user) noexcept;
/** Returns 0 or -ENOENT. */
int remove_poison_callback(PoisonCallback fn, void *user) noexcept;

}  // namespace tiermem::safety
