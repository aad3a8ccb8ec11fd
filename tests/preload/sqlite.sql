-- A generated database, indexed and sorted queries; the output must not depend on malloc.
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO t SELECT x, x % 97, printf('name-%08d', (x * 7919) % 60000), zeroblob(x % 500) FROM c;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(length(payload)), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT name FROM t ORDER BY name DESC LIMIT 3;
SELECT count(DISTINCT name), total(id) FROM t;
UPDATE t SET name = upper(name) WHERE id % 3 = 0;
SELECT group_concat(name) FROM (SELECT name FROM t ORDER BY name LIMIT 10);
