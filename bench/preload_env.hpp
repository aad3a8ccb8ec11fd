// The environment of a program started under one malloc-replacing preload, for the benchmarks
// that compare preloads (bench_startup, bench_preload): this process's environment without any
// preload or allocator setting of its own (LD_PRELOAD, TIERMEM_*, MEMKIND_*), then the preload
// and the peer's own settings, so that no peer inherits another's.
#pragma once
#include <string>
#include <vector>

extern char **environ;

inline std::vector<std::string> preload_env(const std::string &lib,
                                            const std::vector<std::string> &settings) {
  std::vector<std::string> env;
  for (char **e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    if (v.rfind("LD_PRELOAD=", 0) != 0 && v.rfind("TIERMEM_", 0) != 0 &&
        v.rfind("MEMKIND_", 0) != 0) {
      env.push_back(v);
    }
  }
  if (!lib.empty()) env.push_back("LD_PRELOAD=" + lib);
  for (const auto &s : settings) {
    if (!s.empty()) env.push_back(s);  // "": the peer has no setting
  }
  return env;
}
