// The C ABI of the safety layer (include/tiermem/safety.h): argument checks and messages
// around safety's C++ interface (copy_mc.hpp, sigbus.hpp, poison_registry.hpp).
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "api/error.hpp"
#include "safety/copy_mc.hpp"
#include "safety/poison_registry.hpp"
#include "safety/sigbus.hpp"
#include "tiermem/safety.h"
#include "tiermem/tiermem.h"

namespace ts = tiermem::safety;

namespace {

std::string hex(const void *p) {
  char buf[2 + 2 * sizeof(void *) + 1];
  std::snprintf(buf, sizeof buf, "%#llx",
                static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(p)));
  return buf;
}

std::string describe(const void *addr) {
  ts::Owner o;
  std::string s = hex(addr);
  if (ts::find_owner(addr, &o)) {
    auto off = reinterpret_cast<std::uintptr_t>(addr) - reinterpret_cast<std::uintptr_t>(o.start);
    s += " (allocation " + hex(o.start) + " of " + std::to_string(o.size) + " bytes on tier " +
         std::to_string(o.rank) + ", offset " + std::to_string(off) + ")";
  }
  return s;
}

int checked_copy(void *dst, const void *src, std::size_t n, std::size_t *copied, bool both) {
  std::size_t left = ts::copy_mc(dst, src, n);
  std::size_t good = n - left;
  if (copied) *copied = good;
  if (left == 0) return 0;
  const void *s_at = static_cast<const char *>(src) + good;
  const void *d_at = static_cast<char *>(dst) + good;
  std::string progress = std::to_string(good) + " of " + std::to_string(n) + " bytes copied";
  const ts::PoisonRegistry &reg = ts::poison_registry();
  if (reg.contains(reinterpret_cast<std::uintptr_t>(s_at), 1)) {
    return tiermem::api::set_last_error(
        -EHWPOISON, "tiermem: uncorrectable memory error in the source at " + describe(s_at) +
                        ": " + progress + "; the data from there on is lost, restore it from " +
                        "another copy or treat the allocation as damaged");
  }
  if (both && reg.contains(reinterpret_cast<std::uintptr_t>(d_at), 1)) {
    return tiermem::api::set_last_error(
        -EHWPOISON, "tiermem: uncorrectable memory error in the destination at " +
                        describe(d_at) + ": " + progress +
                        "; copy to another allocation (this one holds a poisoned page)");
  }
  return tiermem::api::set_last_error(
      -EFAULT, std::string("tiermem: bus error (not hardware poison) copying from ") +
                   describe(s_at) + " to " + describe(d_at) + ": " + progress +
                   "; the mapping's backing is gone (a truncated file or a removed device?)");
}

int alt_stack_failed(int rc) {
  return tiermem::api::set_last_error(
      rc, std::string("tiermem: cannot give this thread an alternate signal stack: ") +
              std::strerror(-rc) + "; raise the memory limit (ulimit -v) or ignore: only "
              "poison in the thread's own stack goes unreported");
}

}  // namespace

extern "C" {

TM_API size_t tm_copy_mc(void *dst, const void *src, size_t n) { return ts::copy_mc(dst, src, n); }

TM_API size_t tm_verify_mc(const void *src, size_t n) { return ts::verify_mc(src, n); }

TM_API size_t tm_memcmp_mc(const void *a, const void *b, size_t n, int *result) {
  return ts::memcmp_mc(a, b, n, result);
}

TM_API int tm_read_mc(void *dst, const void *src, size_t n, size_t *copied) {
  return checked_copy(dst, src, n, copied, false);
}

TM_API int tm_copy_tiers_mc(void *dst, const void *src, size_t n, size_t *copied) {
  return checked_copy(dst, src, n, copied, true);
}

TM_API const char *tm_copy_mc_routine(void) {
  if (!ts::handler_installed()) ts::install_handler();
  ts::settle_copy_routine();  // what the copies will use, not what cpuid said
  return ts::routine_name(ts::active_copy_routine());
}

TM_API int tm_safety_init(void) {
  ts::InitStep failed = ts::InitStep::none;
  const char *why = nullptr;
  const int rc = ts::init(&failed, &why);
  switch (failed) {
    case ts::InitStep::none: return 0;
    case ts::InitStep::poison_env:
      return tiermem::api::set_last_error(
          rc, std::string("tiermem: TIERMEM_POISON='") + ::secure_getenv("TIERMEM_POISON") + "' " +
                  why);
    case ts::InitStep::handler:
      return tiermem::api::set_last_error(
          rc, std::string("tiermem: cannot install the SIGBUS handler: ") + std::strerror(-rc));
    case ts::InitStep::alt_stack: break;
  }
  return alt_stack_failed(rc);
}

TM_API int tm_safety_thread_init(void) {
  int rc = ts::thread_init();
  return rc == 0 ? 0 : alt_stack_failed(rc);
}

TM_API int tm_sigbus_forward(int sig, void *info, void *ucontext) {
  return ts::handle_sigbus(sig, static_cast<siginfo_t *>(info), ucontext) ? 1 : 0;
}

TM_API int tm_safety_register_range(const void *addr, size_t len, int tier) {
  int rc = ts::register_range(addr, len, tier);
  if (rc == -EINVAL) {
    return tiermem::api::set_last_error(rc, "tiermem: cannot register an empty or NULL range");
  }
  if (rc == -ENOSPC) {
    return tiermem::api::set_last_error(
        rc, "tiermem: 256 ranges are already registered; unregister one first");
  }
  return rc;
}

TM_API int tm_safety_unregister_range(const void *addr) {
  int rc = ts::unregister_range(addr);
  if (rc != 0) {
    return tiermem::api::set_last_error(
        rc, "tiermem: no range is registered at " + hex(addr) + "; pass the start address given "
            "to tm_safety_register_range");
  }
  return 0;
}

TM_API size_t tm_poison_count(void) { return ts::poison_registry().size(); }

TM_API int tm_poison_get(size_t i, tm_poison_range *out) {
  ts::PoisonRange r;
  if (!out || !ts::poison_registry().get(i, &r)) return -ERANGE;
  out->start = r.start;
  out->length = r.length;
  out->lsb = r.lsb;
  out->tier = r.rank;  // tm_poison_range keeps its published field name
  return 0;
}

TM_API int tm_poison_contains(const void *addr, size_t len) {
  return ts::poison_registry().contains(reinterpret_cast<std::uintptr_t>(addr), len) ? 1 : 0;
}

TM_API size_t tm_poison_forget(const void *addr, size_t len) {
  return ts::poison_registry().forget(reinterpret_cast<std::uintptr_t>(addr), len);
}

TM_API int tm_poison_set_mode(int mode) {
  if (mode != TM_POISON_REPORT && mode != TM_POISON_REPAIR) {
    return tiermem::api::set_last_error(
        -EINVAL, "tiermem: tm_poison_set_mode(" + std::to_string(mode) +
                     "): not a mode; use TM_POISON_REPORT or TM_POISON_REPAIR");
  }
  ts::set_poison_mode(mode == TM_POISON_REPAIR ? ts::PoisonMode::repair : ts::PoisonMode::report);
  return 0;
}

TM_API int tm_poison_get_mode(void) {
  return ts::poison_mode() == ts::PoisonMode::repair ? TM_POISON_REPAIR : TM_POISON_REPORT;
}

TM_API int tm_on_poison(tm_poison_fn fn, void *user) {
  int rc = ts::add_poison_callback(fn, user);
  if (rc == -EINVAL) return tiermem::api::set_last_error(rc, "tiermem: tm_on_poison: NULL callback");
  if (rc == -ENOSPC) {
    return tiermem::api::set_last_error(rc, "tiermem: 8 poison callbacks are already registered; "
                                            "remove one with tm_on_poison_remove");
  }
  return 0;
}

TM_API int tm_on_poison_remove(tm_poison_fn fn, void *user) {
  int rc = ts::remove_poison_callback(fn, user);
  if (rc != 0) {
    return tiermem::api::set_last_error(rc, "tiermem: tm_on_poison_remove: no such callback "
                                            "(pass the same function and user pointer)");
  }
  return 0;
}

}  // extern "C"
