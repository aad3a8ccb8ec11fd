#include <doctest/doctest.h>

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "platform/signal.hpp"
#include "safety/bad_mapping.hpp"
#include "safety/copy_mc.hpp"
#include "tiermem/tiermem.h"

using tiermem::test::BadTail;
using tiermem::test::page_size;

namespace {

// Delivers a SIGBUS carrying the siginfo the kernel's memory-failure code would send.
// rt_tgsigqueueinfo lets a thread send itself a kernel-style si_code (> 0); the signal
// arrives before the call returns, through the real handler path.
void inject(int code, const void *addr, short lsb) {
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = SIGBUS;
  si.si_code = code;
  si.si_addr = const_cast<void *>(addr);
  si.si_addr_lsb = lsb;
  REQUIRE(syscall(SYS_rt_tgsigqueueinfo, getpid(), static_cast<pid_t>(syscall(SYS_gettid)),
                  SIGBUS, &si) == 0);
}

void say(const char *s) { (void)!write(1, s, std::strlen(s)); }
void say_num(const char *key, long v) {
  tiermem::platform::SignalSafeWriter w(1);
  w.str(key).str("=").sdec(v).str("\n");
  w.flush();
}

struct Child {
  int status = 0;
  std::string output;  // stdout and stderr together
  bool exited_with(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
  bool killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
};

// Runs `body` in a forked child whose SIGBUS disposition starts at SIG_DFL (doctest's crash
// handler is not inherited as the program's), and collects how it ended.
template <class F>
Child run_child(F body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    signal(SIGBUS, SIG_DFL);
    body();
    _exit(0);
  }
  close(fds[1]);
  Child c;
  char buf[4096];
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) > 0) c.output.append(buf, static_cast<std::size_t>(r));
  close(fds[0]);
  REQUIRE(waitpid(pid, &c.status, 0) == pid);
  return c;
}

bool has(const std::string &s, const std::string &needle) { return s.find(needle) != std::string::npos; }

const void *expected_addr = nullptr;

void siginfo_handler(int, siginfo_t *si, void *) {
  say_num("program-handler-code", si->si_code);
  say_num("addr-matches", si->si_addr == expected_addr);
  say_num("lsb", si->si_addr_lsb);
  _exit(42);
}

void plain_handler(int sig) {
  say_num("plain-handler-sig", sig);
  _exit(43);
}

void install(int flags, void (*h)(int, siginfo_t *, void *), void (*plain)(int)) {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  if (h) {
    sa.sa_sigaction = h;
  } else {
    sa.sa_handler = plain;
  }
  sigaction(SIGBUS, &sa, nullptr);
}

// A tm_copy_mc over the bad tail, which must come back short without the program noticing.
void copy_short(const BadTail &m) {
  std::vector<unsigned char> dst(2 * page_size());
  say_num("copy-left", static_cast<long>(tm_copy_mc(dst.data(), m.bad() - 10, 100)));
}

unsigned char touch(const unsigned char *p) { return *static_cast<const volatile unsigned char *>(p); }

}  // namespace

TEST_CASE("a SIGBUS outside tiermem goes to the SA_SIGINFO handler the program installed before") {
  Child c = run_child([] {
    BadTail m(1, 1);
    expected_addr = m.bad();
    install(SA_SIGINFO, siginfo_handler, nullptr);
    REQUIRE(tm_safety_init() == 0);
    copy_short(m);
    touch(m.bad());
    say("survived");
  });
  CHECK(c.exited_with(42));
  CHECK(has(c.output, "copy-left=90\n"));
  CHECK(has(c.output, "program-handler-code=" + std::to_string(BUS_ADRERR) + "\n"));
  CHECK(has(c.output, "addr-matches=1\n"));
  CHECK(!has(c.output, "survived"));
}

TEST_CASE("a SIGBUS outside tiermem goes to a plain sa_handler installed before") {
  Child c = run_child([] {
    BadTail m(1, 1);
    install(0, nullptr, plain_handler);
    REQUIRE(tm_safety_init() == 0);
    copy_short(m);
    touch(m.bad());
  });
  CHECK(c.exited_with(43));
  CHECK(has(c.output, "copy-left=90\n"));
  CHECK(has(c.output, "plain-handler-sig=" + std::to_string(SIGBUS) + "\n"));
}

namespace {
std::atomic<int> reset_calls{0};
void returning_handler(int, siginfo_t *, void *) {
  ++reset_calls;
  say("one-shot-handler\n");
}
}  // namespace

TEST_CASE("a SA_RESETHAND handler runs once, then the refault takes the default action") {
  Child c = run_child([] {
    BadTail m(1, 1);
    install(SA_SIGINFO | SA_RESETHAND, returning_handler, nullptr);
    REQUIRE(tm_safety_init() == 0);
    touch(m.bad());  // the handler returns, the load runs again and faults again
    say("survived");
  });
  CAPTURE(c.status);
  CAPTURE(c.output);
  CHECK(c.killed_by(SIGBUS));
  CHECK(has(c.output, "one-shot-handler\n"));
  CHECK(c.output.find("one-shot-handler") == c.output.rfind("one-shot-handler"));
  CHECK(!has(c.output, "survived"));
}

TEST_CASE("with no previous handler a SIGBUS outside tiermem kills the process by SIGBUS") {
  Child c = run_child([] {
    BadTail m(1, 1);
    REQUIRE(tm_safety_init() == 0);
    copy_short(m);
    touch(m.bad());
    say("survived");
  });
  CHECK(c.killed_by(SIGBUS));
  CHECK(has(c.output, "copy-left=90\n"));
  CHECK(!has(c.output, "survived"));
}

TEST_CASE("under SIG_IGN a SIGBUS from kill is ignored but a fault still kills, as without tiermem") {
  Child c = run_child([] {
    BadTail m(1, 1);
    signal(SIGBUS, SIG_IGN);
    REQUIRE(tm_safety_init() == 0);
    kill(getpid(), SIGBUS);
    say("survived-kill\n");
    copy_short(m);
    touch(m.bad());
    say("survived-fault");
  });
  CHECK(c.killed_by(SIGBUS));
  CHECK(has(c.output, "survived-kill\n"));
  CHECK(has(c.output, "copy-left=90\n"));
  CHECK(!has(c.output, "survived-fault"));
}

namespace {
void forwarding_handler(int sig, siginfo_t *si, void *uc) {
  if (tm_sigbus_forward(sig, si, uc)) return;
  say("later-handler-got-it\n");
  _exit(44);
}
}  // namespace

TEST_CASE("a handler installed after tiermem keeps tm_copy_mc working by calling tm_sigbus_forward") {
  Child c = run_child([] {
    BadTail m(1, 1);
    REQUIRE(tm_safety_init() == 0);
    install(SA_SIGINFO, forwarding_handler, nullptr);
    copy_short(m);
    touch(m.bad());
  });
  CHECK(c.exited_with(44));
  CHECK(has(c.output, "copy-left=90\n"));
  CHECK(has(c.output, "later-handler-got-it\n"));
}

TEST_CASE("calling tm_safety_init again puts tiermem in front of a handler installed after it") {
  Child c = run_child([] {
    BadTail m(1, 1);
    expected_addr = m.bad();
    REQUIRE(tm_safety_init() == 0);
    install(SA_SIGINFO, siginfo_handler, nullptr);
    REQUIRE(tm_safety_init() == 0);
    copy_short(m);
    touch(m.bad());
  });
  CHECK(c.exited_with(42));
  CHECK(has(c.output, "copy-left=90\n"));
  CHECK(has(c.output, "addr-matches=1\n"));
}

namespace {
void print_callback(void *ptr, size_t size, int tier, size_t offset, void *user) {
  tiermem::platform::SignalSafeWriter w(1);
  w.str("callback ptr-ok=").dec(ptr == user).str(" size=").dec(size).str(" tier=").sdec(tier)
      .str(" offset=").dec(offset).str("\n");
  w.flush();
}
}  // namespace

TEST_CASE("a plain load of poison in tiermem memory names the allocation and tier, then dies by SIGBUS") {
  Child c = run_child([] {
    static unsigned char arena[16 * 4096] __attribute__((aligned(4096)));
    REQUIRE(tm_safety_init() == 0);
    REQUIRE(tm_safety_register_range(arena, sizeof arena, 3) == 0);
    REQUIRE(tm_on_poison(print_callback, arena) == 0);
    inject(BUS_MCEERR_AR, arena + 2 * 4096 + 5, 12);
    say("survived");
  });
  CHECK(c.killed_by(SIGBUS));
  CHECK(has(c.output, "callback ptr-ok=1 size=65536 tier=3 offset=8192\n"));
  CHECK(has(c.output, "tiermem: uncorrectable memory error (SIGBUS BUS_MCEERR_AR)"));
  CHECK(has(c.output, "of 65536 bytes on tier 3 lost its data at offset 8192"));
  CHECK(!has(c.output, "survived"));
}

TEST_CASE("poison outside tiermem memory is not reported and goes to the program's handler") {
  Child c = run_child([] {
    static unsigned char other[4096] __attribute__((aligned(4096)));
    expected_addr = other;
    install(SA_SIGINFO, siginfo_handler, nullptr);
    REQUIRE(tm_safety_init() == 0);
    inject(BUS_MCEERR_AR, other, 12);
  });
  CHECK(c.exited_with(42));
  CHECK(has(c.output, "program-handler-code=" + std::to_string(BUS_MCEERR_AR) + "\n"));
  CHECK(has(c.output, "lsb=12\n"));
  CHECK(!has(c.output, "tiermem:"));
}

namespace {
struct Seen {
  std::atomic<int> calls{0};
  void *ptr = nullptr;
  size_t size = 0, offset = 0;
  int tier = -2;
};
void record_callback(void *ptr, size_t size, int tier, size_t offset, void *user) {
  auto *s = static_cast<Seen *>(user);
  s->ptr = ptr;
  s->size = size;
  s->tier = tier;
  s->offset = offset;
  ++s->calls;
}
}  // namespace

TEST_CASE("an action-optional poison report in tiermem memory is recorded and called back once, and the program goes on") {
  REQUIRE(tm_safety_init() == 0);
  static unsigned char arena[8 << 20] __attribute__((aligned(1 << 21)));
  Seen seen;
  REQUIRE(tm_safety_register_range(arena, sizeof arena, 2) == 0);
  REQUIRE(tm_on_poison(record_callback, &seen) == 0);
  std::size_t before = tm_poison_count();

  inject(BUS_MCEERR_AO, arena + (3 << 20) + 12345, 21);  // a 2 MiB devdax unit
  CHECK(seen.calls.load() == 1);
  CHECK(seen.ptr == arena);
  CHECK(seen.size == sizeof arena);
  CHECK(seen.tier == 2);
  CHECK(seen.offset == (2u << 20));
  REQUIRE(tm_poison_count() == before + 1);
  tm_poison_range r{};
  REQUIRE(tm_poison_get(before, &r) == 0);
  CHECK(r.start == reinterpret_cast<uintptr_t>(arena + (2 << 20)));
  CHECK(r.length == (2u << 20));
  CHECK(r.lsb == 21);
  CHECK(r.tier == 2);
  CHECK(tm_poison_contains(arena + (2 << 20), 1) == 1);
  CHECK(tm_poison_contains(arena + (4 << 20) - 1, 1) == 1);
  CHECK(tm_poison_contains(arena + (4 << 20), 4096) == 0);
  CHECK(tm_poison_contains(arena, 2 << 20) == 0);
  CHECK(tm_poison_contains(arena, (2 << 20) + 1) == 1);

  inject(BUS_MCEERR_AO, arena + (3 << 20), 21);  // the same unit again: already known
  CHECK(seen.calls.load() == 1);
  CHECK(tm_poison_count() == before + 1);

  CHECK(tm_on_poison_remove(record_callback, &seen) == 0);
  CHECK(tm_safety_unregister_range(arena) == 0);
}

TEST_CASE("tm_read_mc names poison in the source with its allocation and tier") {
  REQUIRE(tm_safety_init() == 0);
  BadTail m(2, 1);
  REQUIRE(tm_safety_register_range(m.data(), m.size(), 1) == 0);
  // The kernel reports the poisoned page (as memory-failure would), then the copy trips on it.
  inject(BUS_MCEERR_AO, m.bad(), 12);
  std::vector<unsigned char> dst(m.size());
  std::size_t copied = 0;
  CHECK(tm_read_mc(dst.data(), m.data(), m.size(), &copied) == -EHWPOISON);
  CHECK(copied == m.good_bytes());
  std::string msg = tm_last_error();
  CAPTURE(msg);
  CHECK(has(msg, "uncorrectable memory error in the source"));
  CHECK(has(msg, "bytes on tier 1, offset " + std::to_string(m.good_bytes())));
  CHECK(tm_safety_unregister_range(m.data()) == 0);
  CHECK(tm_poison_forget(m.data(), m.size()) == 1);  // the addresses go back to the kernel
}

TEST_CASE("tm_copy_mc stops at the start of a recorded poisoned unit without reading it, until it is forgotten") {
  REQUIRE(tm_safety_init() == 0);
  std::vector<unsigned char> src(16 * 4096 + 4096), dst(16 * 4096);
  unsigned char *buf = reinterpret_cast<unsigned char *>(
      (reinterpret_cast<uintptr_t>(src.data()) + 4095) & ~uintptr_t{4095});
  for (std::size_t i = 0; i < 16 * 4096; ++i) buf[i] = static_cast<unsigned char>(i);
  REQUIRE(tm_safety_register_range(buf, 16 * 4096, 4) == 0);
  inject(BUS_MCEERR_AO, buf + 5 * 4096 + 17, 12);  // the page stays readable: only recorded
  for (auto r : tiermem::safety::all_copy_routines) {
    if (!tiermem::safety::routine_available(r)) continue;
    CAPTURE(tiermem::safety::routine_name(r));
    CHECK(tiermem::safety::copy_mc_with(r, dst.data(), buf + 100, 8 * 4096) == 3 * 4096 + 100);
    CHECK(std::memcmp(dst.data(), buf + 100, 5 * 4096 - 100) == 0);
    // A poisoned destination stops the copy the same way.
    CHECK(tiermem::safety::copy_mc_with(r, buf + 4 * 4096, dst.data(), 4096 + 1) == 1);
  }
  CHECK(tm_verify_mc(buf, 16 * 4096) == 11 * 4096);
  CHECK(tm_poison_forget(buf, 16 * 4096) == 1);
  CHECK(tm_poison_contains(buf + 5 * 4096, 1) == 0);
  CHECK(tm_copy_mc(dst.data(), buf, 16 * 4096) == 0);
  CHECK(tm_safety_unregister_range(buf) == 0);
}

TEST_CASE("range and callback registration reject bad input and report a full table") {
  static unsigned char cell[257];
  CHECK(tm_safety_register_range(nullptr, 10, 0) == -EINVAL);
  CHECK(tm_safety_register_range(cell, 0, 0) == -EINVAL);
  CHECK(tm_safety_unregister_range(cell + 3) == -ENOENT);
  int added = 0;
  int rc = 0;
  for (int i = 0; i < 257; ++i) {
    rc = tm_safety_register_range(cell + i, 1, 0);
    if (rc != 0) break;
    ++added;
  }
  CHECK(rc == -ENOSPC);
  CHECK(std::string(tm_last_error()).find("unregister one first") != std::string::npos);
  for (int i = 0; i < added; ++i) CHECK(tm_safety_unregister_range(cell + i) == 0);
  CHECK(tm_safety_register_range(cell, 1, 0) == 0);
  CHECK(tm_safety_unregister_range(cell) == 0);

  CHECK(tm_on_poison(nullptr, nullptr) == -EINVAL);
  Seen s[9];
  int cbs = 0;
  for (auto &x : s) {
    rc = tm_on_poison(record_callback, &x);
    if (rc != 0) break;
    ++cbs;
  }
  CHECK(cbs == 8);
  CHECK(rc == -ENOSPC);
  for (int i = 0; i < cbs; ++i) CHECK(tm_on_poison_remove(record_callback, &s[i]) == 0);
  CHECK(tm_on_poison_remove(record_callback, &s[0]) == -ENOENT);
}
