#include "api/settings.hpp"

namespace tiermem::api {

bool env_stats() { return topology::env::stats(); }
LogLevel env_log_level() { return topology::env::log_level(); }
std::optional<long> env_decay_ms() { return topology::env::decay_ms(); }
std::optional<bool> env_thp() { return topology::env::thp(); }
std::optional<unsigned> env_migrate_interval_ms() { return topology::env::migrate_interval_ms(); }
std::optional<std::uint64_t> env_migrate_rate() { return topology::env::migrate_rate(); }
std::optional<double> env_migrate_cpu() { return topology::env::migrate_cpu(); }
std::optional<std::string> env_fsroot() { return topology::env::fsroot(); }

}  // namespace tiermem::api
