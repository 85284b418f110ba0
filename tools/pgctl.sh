#!/usr/bin/env bash
# Start and stop a throwaway PostgreSQL cluster in a directory, for the demo,
# the tests and the benchmark. It listens only on a Unix socket inside the
# directory (no TCP port, so parallel clusters never collide). As root, the
# server runs as the unprivileged user 'postgres' (or 'nobody').
#
#   pgctl.sh start DIR    initdb if needed, start, create database 'guestflow',
#                         print the libpq conninfo on stdout
#   pgctl.sh stop DIR     stop the server of DIR by its PID (fast, then kill)
#   pgctl.sh conninfo DIR print the conninfo
#
# PGCTL_FAST=1 turns fsync off (tests); never for data you care about.
set -euo pipefail

die() { echo "pgctl.sh: $*" >&2; exit 1; }

bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return; }
	done
	d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
	[ -x "$d/initdb" ] || die "no PostgreSQL server binaries (initdb) found: apt-get install postgresql"
	echo "$d"
}

owner() {
	if [ "$(id -u)" != 0 ]; then id -un; return; fi
	if id postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$(owner)" -- "$@"; else "$@"; fi
}

conninfo() { echo "host=$1/sock port=5432 user=postgres dbname=guestflow"; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: pgctl.sh start|stop|conninfo DIR"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ ${#dir} -lt 80 ] || die "directory path too long for a Unix socket: $dir"
BIN=$(bindir)

case "$cmd" in
start)
	mkdir -p "$dir/sock"
	[ "$(id -u)" = 0 ] && chown -R "$(owner)" "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
			--no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
		{
			echo "listen_addresses = ''"
			echo "unix_socket_directories = '$dir/sock'"
			echo "max_connections = 100"
			echo "shared_buffers = 256MB"
			if [ "${PGCTL_FAST:-0}" = 1 ]; then echo "fsync = off"; echo "full_page_writes = off"; fi
		} >>"$dir/data/postgresql.conf"
	fi
	if ! as_owner "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
			|| { tail -20 "$dir/server.log" >&2; die "PostgreSQL did not start (log: $dir/server.log)"; }
	fi
	as_owner "$BIN/psql" -h "$dir/sock" -U postgres -d postgres -qAtc \
		"SELECT 1 FROM pg_database WHERE datname = 'guestflow'" | grep -q 1 \
		|| as_owner "$BIN/createdb" -h "$dir/sock" -U postgres guestflow
	conninfo "$dir"
	;;
stop)
	pidfile="$dir/data/postmaster.pid"
	[ -f "$pidfile" ] || exit 0
	pid=$(head -n 1 "$pidfile")
	as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	;;
conninfo)
	conninfo "$dir"
	;;
*)
	die "unknown command '$cmd'"
	;;
esac
