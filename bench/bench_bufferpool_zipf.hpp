// Zipfian draws for the buffer-pool benchmarks (bench_bufferpool, bench_bufferpool_sqlite).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>

namespace tiermem::bench {

// Zipfian ranks over [0, n) with skew theta, by the method of Gray et al. ("Quickly
// generating billion-record synthetic databases", SIGMOD 1994), as YCSB draws its keys.
class Zipf {
 public:
  Zipf(std::size_t n, double theta) : n_(static_cast<double>(n)) {
    for (std::size_t i = 1; i <= n; ++i) zetan_ += 1.0 / std::pow(static_cast<double>(i), theta);
    double zeta2 = 1.0 + std::pow(0.5, theta);
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1.0 - std::pow(2.0 / n_, 1.0 - theta)) / (1.0 - zeta2 / zetan_);
    half_pow_theta_ = std::pow(0.5, theta);
  }
  template <class Rng>
  std::size_t operator()(Rng &rng) {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + half_pow_theta_) return 1;
    auto r = static_cast<std::size_t>(n_ * std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return std::min(r, static_cast<std::size_t>(n_) - 1);
  }

 private:
  double n_, zetan_ = 0, alpha_ = 0, eta_ = 0, half_pow_theta_ = 0;
};

}  // namespace tiermem::bench
