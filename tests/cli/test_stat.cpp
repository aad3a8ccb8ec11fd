// `tiermem stat PID` against real children: one under the preload library on an emulated
// tier, one plain `sleep` that publishes nothing.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "heap/publish.hpp"
#include "platform/process.hpp"
#include "cli/cli_support.hpp"
#include "support.hpp"

namespace t = tiermem::test;
using t::lines;

namespace {

// A shell command run in the background, killed and reaped at scope exit.
class Child {
 public:
  explicit Child(const std::string &cmd) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char *>(nullptr));
      ::_exit(127);
    }
  }
  ~Child() {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// The text a child writes to `path` once ready; "" after 20 s.
std::string wait_for(const std::string &path) {
  for (int i = 0; i < 400; ++i) {
    std::ifstream in(path);
    std::string text;
    if (in >> text) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

const nlohmann::json *find_tier(const nlohmann::json &tiers, const char *key, const std::string &name) {
  for (const auto &t : tiers)
    if (t[key] == name) return &t;
  return nullptr;
}

constexpr std::uint64_t kBytes = 64u << 20;

}  // namespace

TEST_CASE("stat shows a program's memory on an emulated tier from the kernel and from its heap") {
  t::TempDir dir;
  const std::string ready = (dir.path() / "ready").string();
  const std::string env = "TIERMEM_CACHE_DIR='" + (dir.path() / "run").string() + "'";
  // Every page of 64 MiB written, then the pid said, then a wait to be looked at.
  Child child(env + " TIERMEM_EMULATE=slow:256M exec " TIERMEM_CLI " run --membind=emulated:slow -- "
              "/usr/bin/python3 -c 'import os, time\nx = bytearray(" + std::to_string(kBytes) +
              ")\nx[::4096] = b\"\\x01\" * (len(x) // 4096)\nopen(\"" + ready + "\", \"w\").write(str(os.getpid()))\n"
              "time.sleep(60)'");
  const std::string pid = wait_for(ready);
  REQUIRE(!pid.empty());
  const auto r = t::run_cli("stat " + pid + " --json", env + " TIERMEM_EMULATE=slow:256M");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["pid"] == std::stol(pid));
  CHECK(doc["command"] == "python3");
  // The kernel's view: the memfd's resident pages.
  const auto *kernel = find_tier(doc["tiers"], "tier", "emulated:slow");
  REQUIRE(kernel != nullptr);
  CHECK((*kernel)["kind"] == "emulated");
  CHECK((*kernel)["bytes"].get<std::uint64_t>() >= kBytes);
  CHECK((*kernel)["bytes"].get<std::uint64_t>() < kBytes + (32u << 20));
  CHECK(find_tier(doc["tiers"], "tier", "rank:0") != nullptr);
  // The heap's view, published by the process.
  REQUIRE(doc["heap"].is_object());
  CHECK(doc["heap_note"].is_null());
  const auto *heap = find_tier(doc["heap"]["tiers"], "name", "emulated:slow");
  REQUIRE(heap != nullptr);
  CHECK((*heap)["live"].get<std::uint64_t>() >= kBytes);
  CHECK((*heap)["peak"].get<std::uint64_t>() >= (*heap)["live"].get<std::uint64_t>());
  CHECK((*heap)["capacity"] == 256u << 20);
  CHECK((*heap)["failures"] == 0);
  // The table says the same.
  const auto text = t::run_cli("stat " + pid, env + " TIERMEM_EMULATE=slow:256M");
  CHECK(text.status == 0);
  CHECK(text.out.find("heap statistics, published by the process's tiermem heap") != std::string::npos);
  CHECK(text.out.find("  emulated:slow") != std::string::npos);
}

TEST_CASE("a process that publishes nothing is shown from the kernel's view alone, saying so") {
  t::TempDir dir;
  const std::string env = "TIERMEM_CACHE_DIR='" + (dir.path() / "run").string() + "'";
  Child sleeper("exec sleep 60");
  const std::string pid = std::to_string(sleeper.pid());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the exec done
  auto r = t::run_cli("stat " + pid + " --json", env);
  REQUIRE(r.status == 0);
  const auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["command"] == "sleep");
  CHECK(doc["heap"].is_null());
  CHECK(doc["heap_note"].get<std::string>().find("it publishes no heap statistics") == 0);
  const auto *dram = find_tier(doc["tiers"], "tier", "rank:0");
  REQUIRE(dram != nullptr);
  CHECK((*dram)["bytes"].get<std::uint64_t>() > 0);
  r = t::run_cli("stat " + pid, env);
  CHECK(r.out.find("heap statistics: none: it publishes no heap statistics") != std::string::npos);
  CHECK(r.out.find("shown from the kernel's view alone") != std::string::npos);
}

TEST_CASE("a published file of an earlier process of the same pid is ignored and removed") {
  t::TempDir dir;
  const auto run = dir.path() / "run";
  std::filesystem::create_directory(run);
  std::filesystem::permissions(run, std::filesystem::perms::owner_all);
  Child sleeper("exec sleep 60");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A page in the right layout whose start time is not the sleeper's.
  auto page = std::make_unique<tiermem::heap::published::Page>();
  std::memcpy(page->magic, tiermem::heap::published::kMagic, sizeof page->magic);
  page->version = tiermem::heap::published::kVersion;
  page->size = sizeof *page;
  page->pid = sleeper.pid();
  page->start_time = tiermem::platform::start_time(sleeper.pid()) + 1;
  const auto file = run / tiermem::heap::published::file_name(sleeper.pid());
  {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char *>(page.get()), sizeof *page);
  }
  const auto r = t::run_cli("stat " + std::to_string(sleeper.pid()) + " --json",
                            "TIERMEM_CACHE_DIR='" + run.string() + "'");
  REQUIRE(r.status == 0);
  const auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["heap"].is_null());
  CHECK(doc["heap_note"].get<std::string>().find("was left by an earlier process; removed") != std::string::npos);
  CHECK(!std::filesystem::exists(file));
}

TEST_CASE("a heap removes its published file when the process exits") {
  t::TempDir dir;
  const auto run = dir.path() / "run";
  const auto r = t::run_cli("run --membind=emulated:slow -- /usr/bin/python3 -c 'x = bytearray(1 << 20)'",
                            "TIERMEM_CACHE_DIR='" + run.string() + "' TIERMEM_EMULATE=slow:64M");
  CHECK(r.status == 0);
  REQUIRE(std::filesystem::is_directory(run));
  CHECK(std::filesystem::is_empty(run) == false);  // the hwloc cache stays
  for (const auto &e : std::filesystem::directory_iterator(run))
    CHECK(e.path().filename().string().rfind("heap-", 0) != 0);
}

TEST_CASE("stat --watch refreshes until the process exits") {
  t::TempDir dir;
  const auto w = t::run_command("TIERMEM_CACHE_DIR='" + (dir.path() / "run").string() + "' sh -c 'sleep 1 & " +
                                TIERMEM_CLI " stat $! --json --watch=0.2'");
  CHECK(w.status == 0);
  CHECK(lines(w.out) >= 3);
  std::istringstream in(w.out);
  for (std::string line; std::getline(in, line);) CHECK(nlohmann::json::parse(line)["command"] == "sleep");
  CHECK(w.err.find("tiermem stat: process ") == 0);
  CHECK(w.err.find(" has exited\n") != std::string::npos);
}

TEST_CASE("stat refuses what is no running process, in one line") {
  auto r = t::refused_cli("stat abc");
  CHECK(r.err == "tiermem stat: 'abc' is not a process id (see ps)\n");
  r = t::refused_cli("stat 999999999");
  CHECK(r.err == "tiermem stat: no process 999999999 (see ps)\n");
  r = t::refused_cli("stat 1 --watch=soon");
  CHECK(lines(r.err) == 1);
  CHECK(t::run_cli("stat").status == 2);
}
