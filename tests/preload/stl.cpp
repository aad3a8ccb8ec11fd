// preload_stl: a C++ program that leans on the STL heap (maps, strings, vectors, shared_ptr
// across threads) and prints a checksum, so a run under the preload library can be compared
// with a plain run.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

int main() {
  std::uint64_t sum = 0;
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 50000; ++i) {
    auto &v = m["key" + std::to_string(i % 5000)];
    v.push_back(i);
  }
  for (auto &[k, v] : m) sum += k.size() * v.size() + static_cast<std::uint64_t>(v.back());
  std::vector<std::thread> threads;
  std::vector<std::uint64_t> parts(2);
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([t, &parts] {
      std::unordered_map<int, std::shared_ptr<std::string>> u;
      for (int i = 0; i < 40000; ++i) u[i] = std::make_shared<std::string>(i % 300, char('a' + t));
      for (auto &[k, s] : u) parts[t] += static_cast<std::uint64_t>(k) ^ s->size();
    });
  for (auto &t : threads) t.join();
  std::printf("%llu %llu %llu\n", (unsigned long long)sum, (unsigned long long)parts[0],
              (unsigned long long)parts[1]);
  return 0;
}
