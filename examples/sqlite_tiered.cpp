// SQLite with its page cache on tiers: 256 KiB of pages on the fastest tier, the rest on a
// slow one. One call before sqlite3_initialize(), then SQLite as usual.
//   TIERMEM_EMULATE=slow:1G ./example_sqlite_tiered
#include <sqlite3.h>

#include <cstdio>

#include "tiermem/bufferpool.hpp"

int main() {
  try {
    tiermem::sqlite::install_page_cache({"rank:0", 256u << 10, "emulated:slow"});
  } catch (const tiermem::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  sqlite3 *db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  const char *sql =
      "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL);"
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)"
      "  INSERT INTO orders SELECT i, (i * 7919) % 1000, (i % 977) / 10.0 FROM n;"
      "CREATE INDEX by_customer ON orders(customer);";
  char *err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s\n", err);
    return 1;
  }
  sqlite3_stmt *st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT customer, count(*), sum(amount) FROM orders GROUP BY customer "
                     "ORDER BY sum(amount) DESC LIMIT 3",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW)
    std::printf("customer %d: %d orders, %.1f\n", sqlite3_column_int(st, 0),
                sqlite3_column_int(st, 1), sqlite3_column_double(st, 2));
  sqlite3_finalize(st);
  sqlite3_close(db);
  auto s = tiermem::sqlite::page_cache_stats();
  std::printf("page cache: %llu pages on the fast tier, %llu on the slow tier, %llu/%llu hits\n",
              static_cast<unsigned long long>(s.fast_pages),
              static_cast<unsigned long long>(s.slow_pages), static_cast<unsigned long long>(s.hits),
              static_cast<unsigned long long>(s.fetches));
  return s.slow_pages != 0 ? 0 : 1;
}
