// State shared between the SIGBUS handler (handler.cpp, signal context, read-only) and the
// code that configures it (sigbus.cpp, normal context). Fixed arrays with lock-free slots:
// the handler can neither lock nor allocate.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/signal.hpp"
#include "safety/sigbus.hpp"

namespace tiermem::safety::detail {

// A slot's state: free, being written, live, being removed. Readers (the handler) use a slot
// only while it is live and its generation did not change while they read it.
enum : int { kFree = 0, kWriting = 1, kLive = 2, kRemoving = 3 };

struct RangeSlot {
  std::atomic<int> state{kFree};
  std::atomic<unsigned> gen{0};
  std::atomic<std::uintptr_t> start{0};
  std::atomic<std::size_t> len{0};
  std::atomic<int> rank{-1};
};
inline constexpr std::size_t kMaxRanges = 256;
extern RangeSlot ranges[kMaxRanges];

struct CallbackSlot {
  std::atomic<int> state{kFree};
  std::atomic<PoisonCallback> fn{nullptr};
  std::atomic<void *> user{nullptr};
};
inline constexpr std::size_t kMaxCallbacks = 8;
extern CallbackSlot callbacks[kMaxCallbacks];

extern std::atomic<OwnerLookup> owner_lookup;
extern std::atomic<PageRepair> page_repair;
extern std::atomic<int> poison_mode;
extern platform::SignalChain sigbus_chain;

/** The installed SIGBUS handler: handle_sigbus(), else forward. */
void on_sigbus(int sig, siginfo_t *info, void *ucontext);

}  // namespace tiermem::safety::detail
