#!/usr/bin/env bash
# PostgreSQL's shared buffers on a tier through the launcher (issue 7):
#   tiermem run --membind=TIER -- postgres ...
# initdb's a throw-away cluster in a temporary directory, starts the server on a free loopback
# port (and a unix socket in that directory), checks in /proc/PID/numa_maps that the postmaster's
# shared memory segment carries the launcher's bind policy to the tier's nodes, with its pages on
# those nodes only, runs a bounded pgbench (scale 1, 2 clients x 500 transactions) and stops the
# server: always, also when a step fails.
#
# Usage: postgres_shared_buffers.sh TIERMEM PG_BINDIR [TIER]      (TIER: default rank:0)
#
# PostgreSQL refuses to run as root ("root" execution of the PostgreSQL server is not
# permitted), and CI runs as root: then initdb and the server run as the unprivileged user
# `nobody` (group nogroup) through setpriv, placed *after* `tiermem run` in the command line, so
# the launcher sets the memory policy as root and the policy passes on through setpriv's exec to
# postgres; the temporary directory is handed to nobody, under /tmp so that nobody can reach it.
# As any other user, everything runs as that user.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 TIERMEM PG_BINDIR [TIER]" >&2
  exit 2
fi
tiermem=$1 pgbin=$2 tier=${3:-rank:0}
shared_buffers_mb=32

fail() {
  echo "postgres_shared_buffers: $*" >&2
  exit 1
}

for p in initdb postgres pg_isready pgbench psql; do
  [ -x "$pgbin/$p" ] || fail "$pgbin/$p is missing; install postgresql-15 (scripts/install-deps)"
done

# The nodes the launcher binds to, as it reports them. Shared memory is mapped by the kernel,
# not allocated by malloc: only a tier made of NUMA nodes (bound with set_mempolicy) places it.
plan=$("$tiermem" run --dry-run --membind="$tier" -- true) || fail "tiermem run --membind=$tier refused the tier (above)"
case "$plan" in
  *"set_mempolicy(MPOL_BIND, nodes "*) ;;
  *) fail "tier '$tier' is not made of NUMA nodes (launcher: $plan); PostgreSQL's shared memory follows only a kernel memory policy: pick a node tier (tiermem list)" ;;
esac
nodes=${plan#*nodes }
nodes=${nodes%%)*}

# numa_maps prints a policy's nodes as ranges ("0-2,5"); the launcher lists them ("0,1,2,5").
ranges() {
  local out="" start="" prev="" n
  for n in ${1//,/ } END; do
    if [ "$n" != END ] && [ -n "$prev" ] && [ "$n" -eq $((prev + 1)) ]; then prev=$n; continue; fi
    if [ -n "$start" ]; then
      out+="${out:+,}$start"
      if [ "$prev" != "$start" ]; then out+="-$prev"; fi
    fi
    start=$n prev=$n
  done
  echo "$out"
}
want_policy="bind:$(ranges "$nodes")"

tmp=$(mktemp -d -p /tmp tm-postgres.XXXXXX)
launcher=""
postmaster=""
cleanup() {
  local rc=$? i
  # Fast shutdown (SIGINT) of the postmaster, then immediate (SIGQUIT), then SIGKILL; the
  # launcher returns when its child has gone.
  if [ -n "$postmaster" ]; then
    for sig in INT QUIT KILL; do
      kill -0 "$postmaster" 2>/dev/null || break
      kill -"$sig" "$postmaster" 2>/dev/null || true
      for i in $(seq 100); do kill -0 "$postmaster" 2>/dev/null || break; sleep 0.1; done
    done
  fi
  if [ -n "$launcher" ] && kill -0 "$launcher" 2>/dev/null; then
    kill -TERM "$launcher" 2>/dev/null || true  # forwarded to postgres: a smart shutdown
    for i in $(seq 100); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$launcher" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$tmp/server.log" ]; then
    echo "--- server log ($tmp/server.log) ---" >&2
    tail -n 30 "$tmp/server.log" >&2
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_user=()
if [ "$(id -u)" -eq 0 ]; then
  id nobody >/dev/null 2>&1 || fail "running as root and there is no user 'nobody' to run PostgreSQL as"
  group=$(id -gn nobody)
  chown "nobody:$group" "$tmp"
  as_user=(setpriv --reuid=nobody --regid="$group" --clear-groups)
fi
cd "$tmp"  # the server's working directory must be readable by the user it runs as

"${as_user[@]}" "$pgbin/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 --locale=C -N \
  >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; fail "initdb failed (log above)"; }
"${as_user[@]}" mkdir "$tmp/sock"

# Starts the server on loopback port $1 under the launcher. Returns 0 once the postmaster says
# it is ready (postmaster.pid's status line), 1 if the port was taken (then another is tried).
# huge_pages=off: the segment is then the anonymous shared mapping "/dev/zero (deleted)".
start_server() {
  local i
  "$tiermem" run --membind="$tier" -- "${as_user[@]}" "$pgbin/postgres" -D "$tmp/data" \
    -c listen_addresses=127.0.0.1 -p "$1" -k "$tmp/sock" \
    -c shared_buffers=${shared_buffers_mb}MB -c huge_pages=off -c fsync=off -c max_connections=10 \
    >"$tmp/server.log" 2>&1 &
  launcher=$!
  for i in $(seq 300); do
    if ! kill -0 "$launcher" 2>/dev/null; then
      launcher=""
      grep -q "Address already in use" "$tmp/server.log" && return 1
      fail "the server exited while starting (log below)"
    fi
    [ "$(sed -n 8p "$tmp/data/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ] && return 0
    sleep 0.1
  done
  fail "the server was not ready on 127.0.0.1:$1 within 30 s"
}
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  if start_server "$port"; then break; fi
  [ "$attempt" -lt 5 ] || fail "5 random loopback ports were all in use"
done
postmaster=$(head -n 1 "$tmp/data/postmaster.pid")
"$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres ||
  fail "the server says it is ready but does not answer on 127.0.0.1:$port"
echo "postmaster $postmaster on 127.0.0.1:$port, started with: tiermem run --membind=$tier (nodes $nodes)"

# The main shared memory segment: the largest "/dev/zero (deleted)" mapping of the postmaster.
segment() {
  local range perms off dev inode path rest start end best=0 best_start=""
  while read -r range perms off dev inode path rest; do
    [ "$path" = /dev/zero ] && [ "$rest" = "(deleted)" ] || continue
    start=${range%-*} end=${range#*-}
    if [ $((16#$end - 16#$start)) -gt "$best" ]; then best=$((16#$end - 16#$start)) best_start=$start; fi
  done <"/proc/$postmaster/maps"
  [ -n "$best_start" ] && echo "$best_start $best"
}
read -r seg_start seg_size < <(segment) || fail "no shared memory segment (/dev/zero) in /proc/$postmaster/maps"
[ "$seg_size" -ge $((shared_buffers_mb << 20)) ] ||
  fail "the largest shared mapping is $seg_size bytes, smaller than shared_buffers=${shared_buffers_mb}MB"
# Every server process maps the segment at the same address (they are forked from the
# postmaster); numa_maps counts the pages each one has touched. All must show the bind policy
# and no page off the tier's nodes.
check_segment() {
  local pid line policy n pages most=0 procs=0
  grep -q "^$seg_start " "/proc/$postmaster/numa_maps" ||
    fail "segment $seg_start not in /proc/$postmaster/numa_maps (a kernel without NUMA?)"
  for pid in "$postmaster" $(pgrep -P "$postmaster"); do
    line=$(grep "^$seg_start " "/proc/$pid/numa_maps" 2>/dev/null) || continue  # just exited
    policy=$(awk '{print $2}' <<<"$line")
    [ "$policy" = "$want_policy" ] ||
      fail "shared buffers in pid $pid have policy '$policy', expected '$want_policy': $line"
    pages=0
    for n in $(grep -o ' N[0-9]*=[0-9]*' <<<"$line" | tr -d ' N'); do
      [[ ",$nodes," == *",${n%=*},"* ]] ||
        fail "shared buffer pages on node ${n%=*} in pid $pid, outside the tier's nodes $nodes: $line"
      pages=$((pages + ${n#*=}))
    done
    [ "$pages" -gt "$most" ] && most=$pages
    procs=$((procs + 1))
  done
  [ "$most" -gt 0 ] || fail "no resident page in the shared memory segment"
  echo "numa_maps ($1): $procs server processes, policy $want_policy, up to $most pages of the segment resident, all on node(s) $nodes"
  echo "  postmaster: $(grep "^$seg_start " "/proc/$postmaster/numa_maps")"
}
check_segment "after start"

"$pgbin/pgbench" -i -s 1 -q -h 127.0.0.1 -p "$port" -U postgres postgres >"$tmp/pgbench-init.log" 2>&1 ||
  { cat "$tmp/pgbench-init.log" >&2; fail "pgbench -i failed (log above)"; }
"$pgbin/pgbench" -c 2 -j 2 -t 500 -h 127.0.0.1 -p "$port" -U postgres postgres >"$tmp/pgbench.log" 2>&1 ||
  { cat "$tmp/pgbench.log" >&2; fail "pgbench failed (log above)"; }
grep -E "^(number of transactions actually processed|number of failed transactions|tps)" "$tmp/pgbench.log"
grep -q "^number of transactions actually processed: 1000/1000$" "$tmp/pgbench.log" ||
  fail "pgbench did not complete its 1000 transactions (log: $(tr '\n' ' ' <"$tmp/pgbench.log"))"
# A checkpoint makes the checkpointer write every dirty buffer, touching them in its mapping.
"$pgbin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c CHECKPOINT postgres >/dev/null ||
  fail "CHECKPOINT failed"
check_segment "after pgbench and a checkpoint"
echo "shared buffers ($seg_size bytes at 0x$seg_start) bound to node(s) $nodes; pgbench passed"
