// The migrate layer's SIGSEGV handler: one handler in front of the program's, serving the write
// fences (fence.hpp); every other fault goes on to the program's own disposition, as if
// tiermem were not installed.
#pragma once
#include <cstdint>

namespace tiermem::migrate {

/**
 * Installs the handler, or puts it back in front of a handler the program installed since.
 * Normal context; asks the kernel each time (one sigaction call). Returns 0 or -errno.
 */
int install_fault_handler() noexcept;

/** Async-signal-safe: a protection fault at `addr` on a fence; true when it was one (and the
 *  writer has waited for the fence to end). */
bool fence_fault(std::uintptr_t addr) noexcept;

}  // namespace tiermem::migrate
