// One SQLite workload, run with SQLite's default page cache ("default") or with tiermem's
// tiered one ("tiered"): a generated table, an index, updates, deletes, VACUUM and sorted
// queries, on a file database (purgeable cache, small cache_size: pages are recycled) and
// an in-memory one (non-purgeable). Prints one checksum line per query on stdout, so two
// runs can be compared; the tiered run prints the page cache's counters on stderr.
// A process of its own per mode: SQLite accepts a page cache only before initialising.
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tiermem/bufferpool.hpp"

namespace {

[[noreturn]] void die(sqlite3 *db, const char *what) {
  std::fprintf(stderr, "sqlite_workload: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
  std::exit(2);
}

void exec(sqlite3 *db, const char *sql) {
  char *err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) die(db, sql);
}

// FNV-1a over every column of every row, in the order the query returns them.
void checksum(sqlite3 *db, const char *label, const char *sql) {
  sqlite3_stmt *st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) die(db, sql);
  std::uint64_t h = 1469598103934665603ull, rows = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ++rows;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char *t = sqlite3_column_text(st, i);
      int n = sqlite3_column_bytes(st, i);
      for (int k = 0; k < n; ++k) h = (h ^ t[k]) * 1099511628211ull;
      h = (h ^ 0xff) * 1099511628211ull;
    }
  }
  if (rc != SQLITE_DONE) die(db, sql);
  sqlite3_finalize(st);
  std::printf("%s rows=%llu fnv=%016llx\n", label, static_cast<unsigned long long>(rows),
              static_cast<unsigned long long>(h));
}

void workload(sqlite3 *db, const char *name, int rows) {
  exec(db, "PRAGMA cache_size=-1024");  // 1 MiB: far smaller than the data
  exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)");
  exec(db, "BEGIN");
  sqlite3_stmt *ins = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?,?,?)", -1, &ins, nullptr) != SQLITE_OK)
    die(db, "prepare insert");
  std::uint64_t x = 88172645463325252ull;
  std::string v;
  for (int i = 1; i <= rows; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v.assign(20 + x % 180, static_cast<char>('a' + x % 26));
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_int64(ins, 2, static_cast<sqlite3_int64>(x % 100000));
    sqlite3_bind_text(ins, 3, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(ins) != SQLITE_DONE) die(db, "insert");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  exec(db, "COMMIT");
  exec(db, "CREATE INDEX tk ON t(k)");
  std::string p(name);
  checksum(db, (p + ".sorted").c_str(), "SELECT k, id, v FROM t ORDER BY k, id");
  checksum(db, (p + ".range").c_str(),
           "SELECT count(*), sum(k), max(length(v)) FROM t WHERE k BETWEEN 20000 AND 40000");
  exec(db, "UPDATE t SET v = v || 'x', k = k + 1 WHERE id % 7 = 0");
  exec(db, "DELETE FROM t WHERE id % 11 = 0");
  checksum(db, (p + ".updated").c_str(), "SELECT id, k, v FROM t ORDER BY v DESC, id LIMIT 5000");
  exec(db, "VACUUM");
  checksum(db, (p + ".vacuumed").c_str(), "SELECT k, count(*) FROM t GROUP BY k % 97 ORDER BY 1");
  checksum(db, (p + ".integrity").c_str(), "PRAGMA integrity_check");
}

}  // namespace

int main(int argc, char **argv) {
  if (argc == 2 && std::strcmp(argv[1], "late") == 0) {  // installing after initialise fails
    sqlite3_initialize();
    try {
      tiermem::sqlite::install_page_cache({"rank:0", 1 << 20, ""});
    } catch (const tiermem::Error &e) {
      std::printf("code=%d %s\n", e.code(), e.what());
      return 0;
    }
    return 1;
  }
  if (argc < 2 || (std::strcmp(argv[1], "default") != 0 && std::strcmp(argv[1], "tiered") != 0)) {
    std::fprintf(stderr, "usage: sqlite_workload default|tiered [rows] | late\n");
    return 2;
  }
  bool tiered = std::strcmp(argv[1], "tiered") == 0;
  int rows = argc > 2 ? std::atoi(argv[2]) : 30000;
  if (tiered) {
    setenv("TIERMEM_EMULATE", "fast:64M,slow:256M", 0);
    tiermem::sqlite::PageCacheOptions o;
    o.fast = "emulated:fast";
    o.fast_bytes = 512 << 10;  // small: most pages spill to the slow tier
    o.slow = "emulated:slow";
    tiermem::sqlite::install_page_cache(o);
  }
  if (sqlite3_initialize() != SQLITE_OK) die(nullptr, "sqlite3_initialize");

  char path[] = "/tmp/tiermem-sqlite-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) die(nullptr, "mkstemp");
  close(fd);
  sqlite3 *db = nullptr;
  if (sqlite3_open(path, &db) != SQLITE_OK) die(db, "open file database");
  exec(db, "PRAGMA journal_mode=DELETE");
  workload(db, "file", rows);
  sqlite3_close(db);
  unlink(path);
  std::string journal = std::string(path) + "-journal";
  unlink(journal.c_str());

  if (sqlite3_open(":memory:", &db) != SQLITE_OK) die(db, "open memory database");
  workload(db, "memory", rows);
  sqlite3_close(db);

  if (tiered) {
    auto s = tiermem::sqlite::page_cache_stats();
    std::fprintf(stderr, "tiered page cache: fast_pages=%llu slow_pages=%llu fetches=%llu hits=%llu\n",
                 static_cast<unsigned long long>(s.fast_pages),
                 static_cast<unsigned long long>(s.slow_pages),
                 static_cast<unsigned long long>(s.fetches), static_cast<unsigned long long>(s.hits));
    if (s.fast_pages == 0 || s.slow_pages == 0 || s.fetches == 0) return 3;
  }
  return 0;
}
