// SQLite with tiermem's tiered page cache against SQLite's default page cache (issue 7: goal
// within 1.1x time when everything fits the fast tier), on one database file and the same
// statements. SQLite takes a page cache only while it is shut down, so each run shuts SQLite
// down, installs its cache (the default one, saved with SQLITE_CONFIG_GETPCACHE2 before the
// first initialisation, or tiermem's), initialises and opens the database.
//
// Workloads: "point" — one statement an iteration, a zipfian (theta 0.99) row read by primary
// key or, one time in ten, an update of that row (WAL, synchronous=OFF: the page cache, not
// the disk, is measured); "scan" — a full scan of the table and its index an iteration.
// Arg "fast": 1 = every page fits the fast tier (the goal's case); 0 = the fast tier holds a
// quarter of the database and the rest comes from the emulated slow tier.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_bufferpool_zipf.hpp"
#include "tiermem/bufferpool.hpp"

namespace {

constexpr int kRows = 100000;
constexpr int kUpdatePercent = 10;

const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "fast:512M,slow:512M", 0);
  return 0;
}();

[[noreturn]] void fail(sqlite3 *db, const std::string &what) {
  throw std::runtime_error("bench_bufferpool_sqlite: " + what + ": " +
                           (db ? sqlite3_errmsg(db) : "sqlite error"));
}

void exec(sqlite3 *db, const char *sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db, sql);
}

sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) fail(db, sql);
  return st;
}

// SQLite's own page cache, saved before anything else touches SQLite.
sqlite3_pcache_methods2 g_default_cache = [] {
  sqlite3_pcache_methods2 m{};
  if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &m) != SQLITE_OK)
    throw std::runtime_error("bench_bufferpool_sqlite: SQLITE_CONFIG_GETPCACHE2 failed");
  return m;
}();

// The database file, made once with the default cache: kRows rows of 20..200 bytes and an
// index on k (about 25 MiB); removed at exit.
struct Database {
  std::string path;
  std::size_t bytes = 0;

  Database() {
    char p[] = "/tmp/tiermem-bench-sqlite-XXXXXX";
    int fd = mkstemp(p);
    if (fd < 0) throw std::runtime_error("bench_bufferpool_sqlite: mkstemp in /tmp failed");
    close(fd);
    path = p;
    if (sqlite3_initialize() != SQLITE_OK) fail(nullptr, "sqlite3_initialize");
    sqlite3 *db = nullptr;
    if (sqlite3_open(p, &db) != SQLITE_OK) fail(db, "open");
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)");
    exec(db, "BEGIN");
    sqlite3_stmt *ins = prepare(db, "INSERT INTO t VALUES(?,?,?)");
    std::mt19937_64 rng(5);
    std::string v;
    for (int i = 1; i <= kRows; ++i) {
      v.assign(20 + rng() % 180, static_cast<char>('a' + rng() % 26));
      sqlite3_bind_int(ins, 1, i);
      sqlite3_bind_int64(ins, 2, static_cast<sqlite3_int64>(rng() % 1000000));
      sqlite3_bind_text(ins, 3, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(ins) != SQLITE_DONE) fail(db, "insert");
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec(db, "COMMIT");
    exec(db, "CREATE INDEX tk ON t(k)");
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    sqlite3_shutdown();
    struct stat st{};
    if (stat(p, &st) != 0) throw std::runtime_error("bench_bufferpool_sqlite: stat " + path);
    bytes = static_cast<std::size_t>(st.st_size);
  }
  ~Database() {
    for (const char *suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
  }
  Database(const Database &) = delete;
  Database &operator=(const Database &) = delete;
};

const Database &database() {
  static const Database db;
  return db;
}

// Row ids in zipfian order, scattered over the table (hot rows are not neighbours).
const std::vector<int> &zipf_rows() {
  static const std::vector<int> rows = [] {
    tiermem::bench::Zipf zipf(kRows, 0.99);
    std::mt19937_64 rng(11);
    std::vector<int> v(1 << 20);
    for (int &r : v)
      r = 1 + static_cast<int>((zipf(rng) * 2654435761u) % kRows);  // coprime to kRows
    return v;
  }();
  return rows;
}

enum class Cache { Default, Tiered };

// SQLite shut down, `cache` installed, initialised, the database open with a page cache big
// enough for all of it.
struct Session {
  sqlite3 *db = nullptr;
  tiermem::sqlite::PageCacheStats opened{}, warm{};

  Session(Cache cache, bool fits_fast) {
    const Database &data = database();
    sqlite3_shutdown();
    if (cache == Cache::Default) {
      if (sqlite3_config(SQLITE_CONFIG_PCACHE2, &g_default_cache) != SQLITE_OK)
        fail(nullptr, "restoring the default page cache");
    } else {
      tiermem::sqlite::PageCacheOptions o;
      o.fast = "emulated:fast";
      o.slow = "emulated:slow";
      o.fast_bytes = fits_fast ? std::size_t{256} << 20 : data.bytes / 4;
      tiermem::sqlite::install_page_cache(o);
    }
    if (sqlite3_initialize() != SQLITE_OK) fail(nullptr, "sqlite3_initialize");
    opened = tiermem::sqlite::page_cache_stats();
    if (sqlite3_open(data.path.c_str(), &db) != SQLITE_OK) fail(db, "open");
    exec(db, "PRAGMA cache_size=-131072");  // 128 MiB: the whole database stays cached
    exec(db, "PRAGMA synchronous=OFF");
    exec(db, "SELECT sum(length(v)), sum(k) FROM t");  // warm: every table page in the cache
    exec(db, "SELECT count(*) FROM t INDEXED BY tk WHERE k >= 0");
    warm = tiermem::sqlite::page_cache_stats();
  }
  ~Session() {
    sqlite3_close(db);
    sqlite3_shutdown();
  }
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  // Tiered runs: the page slots this session placed on each tier, and the share of SQLite's
  // page fetches after the warm-up that found their page cached.
  void report(benchmark::State &state, Cache cache) const {
    if (cache != Cache::Tiered) return;
    auto now = tiermem::sqlite::page_cache_stats();
    state.counters["db_mib"] = static_cast<double>(database().bytes) / (1 << 20);
    state.counters["fast_pages"] = static_cast<double>(now.fast_pages - opened.fast_pages);
    state.counters["slow_pages"] = static_cast<double>(now.slow_pages - opened.slow_pages);
    state.counters["fetch_hit"] =
        now.fetches == warm.fetches ? 0.0
                                    : static_cast<double>(now.hits - warm.hits) /
                                          static_cast<double>(now.fetches - warm.fetches);
  }
};

void run_point(benchmark::State &state, Cache cache) {
  Session s(cache, state.range(0) != 0);
  sqlite3_stmt *get = prepare(s.db, "SELECT k, v FROM t WHERE id = ?");
  sqlite3_stmt *put = prepare(s.db, "UPDATE t SET k = k + 1 WHERE id = ?");
  const std::vector<int> &rows = zipf_rows();
  std::size_t i = 0;
  for (auto _ : state) {
    int row = rows[i++ & (rows.size() - 1)];
    bool update = (row ^ static_cast<int>(i)) % 100 < kUpdatePercent;
    sqlite3_stmt *st = update ? put : get;
    sqlite3_bind_int(st, 1, row);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) benchmark::DoNotOptimize(sqlite3_column_int(st, 0));
    if (rc != SQLITE_DONE) fail(s.db, "point statement");
    sqlite3_reset(st);
  }
  sqlite3_finalize(get);
  sqlite3_finalize(put);
  state.SetItemsProcessed(state.iterations());
  s.report(state, cache);
}

void run_scan(benchmark::State &state, Cache cache) {
  Session s(cache, state.range(0) != 0);
  sqlite3_stmt *scan = prepare(s.db, "SELECT sum(length(v)), sum(k) FROM t");
  sqlite3_stmt *index = prepare(s.db, "SELECT count(*) FROM t INDEXED BY tk WHERE k >= 0");
  for (auto _ : state) {
    for (sqlite3_stmt *st : {scan, index}) {
      if (sqlite3_step(st) != SQLITE_ROW) fail(s.db, "scan");
      benchmark::DoNotOptimize(sqlite3_column_int64(st, 0));
      sqlite3_reset(st);
    }
  }
  sqlite3_finalize(scan);
  sqlite3_finalize(index);
  s.report(state, cache);
}

void BM_SqlitePointDefaultCache(benchmark::State &state) { run_point(state, Cache::Default); }
void BM_SqlitePointTieredCache(benchmark::State &state) { run_point(state, Cache::Tiered); }
void BM_SqliteScanDefaultCache(benchmark::State &state) { run_scan(state, Cache::Default); }
void BM_SqliteScanTieredCache(benchmark::State &state) { run_scan(state, Cache::Tiered); }

// Wall-clock time: the updates write the WAL file.
BENCHMARK(BM_SqlitePointDefaultCache)->ArgName("fast")->Arg(1)->UseRealTime();
BENCHMARK(BM_SqlitePointTieredCache)->ArgName("fast")->Arg(1)->Arg(0)->UseRealTime();
BENCHMARK(BM_SqliteScanDefaultCache)->ArgName("fast")->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SqliteScanTieredCache)->ArgName("fast")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
