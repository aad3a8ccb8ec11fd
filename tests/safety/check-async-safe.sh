#!/bin/sh
# Async-signal-safety by construction: the object files whose code runs inside the SIGBUS
# handler (or on tm_copy_mc's fast path) may only call functions on an allowlist of
# async-signal-safe, lock-free, allocation-free functions (__x86_get_cpuid_feature_leaf:
# glibc's CPU feature record, read-only; clock_gettime: in POSIX's list, for the copy
# routine's timed choice, which the first large copy may make in a handler). Usage: check-async-safe.sh OBJ...
set -eu
allow='^(clock_gettime|sigaction|sigemptyset|sigaddset|sigdelset|sigismember|pthread_sigmask|sigaltstack|syscall|getpid|_exit|write|__errno_location|mmap|munmap|mprotect|sysconf|siglongjmp|__sigsetjmp|memcpy|memset|__stack_chk_fail|__cxa_thread_atexit|__cxa_thread_atexit_impl|__gxx_personality_v0|__tls_get_addr|_GLOBAL_OFFSET_TABLE_|__dso_handle|__x86_get_cpuid_feature_leaf|tiermem_copy_mc_.*|__(start|stop)_tiermem_mc_extable|_ZNK?7tiermem(6safety|8platform).*|_ZN7tiermem4heap7g_slotsE|_ZNK7tiermem4heap9ExtentMap4find.*)$'
status=0
checked=0
for obj in "$@"; do
  case "$obj" in
    */safety/handler.cpp.o|*/safety/copy_mc.cpp.o|*/safety/copy_select.cpp.o|*/safety/poison_registry.cpp.o|*/platform/signal.cpp.o|*/heap/owner.cpp.o) ;;
    *) continue ;;
  esac
  checked=$((checked + 1))
  bad=$(nm -u "$obj" | awk '{print $NF}' | sed 's/@.*//' | grep -Ev "$allow" || true)
  if [ -n "$bad" ]; then
    echo "$obj calls functions that are not async-signal-safe:"; echo "$bad"; status=1
  fi
done
if [ "$checked" -ne 6 ]; then echo "expected 6 signal-context objects, found $checked"; exit 1; fi
[ $status -eq 0 ] && echo "ok: $checked signal-context objects call only allowlisted functions"
exit $status
