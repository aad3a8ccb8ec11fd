-- The RSS comparison's workload: a 32 MiB page cache over 200000 rows, as a real database
-- would be configured; the output must not depend on malloc either.
PRAGMA cache_size = -32000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, x % 97, printf('name-%08d', (x * 7919) % 200000), zeroblob(x % 300) FROM c;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(length(payload)), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT name FROM t ORDER BY name DESC LIMIT 3;
SELECT count(DISTINCT name), total(id) FROM t;
UPDATE t SET name = upper(name) WHERE id % 3 = 0;
SELECT group_concat(name) FROM (SELECT name FROM t ORDER BY name LIMIT 10);
