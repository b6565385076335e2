#!/usr/bin/env bash
# Fetches the embedded ClickHouse engine (chDB's libchdb.so) into a cache
# directory, verifying pinned SHA-256 sums. Idempotent: a verified library
# already in place is left alone.
#
#   scripts/fetch-chdb.sh            fetch if missing, print the library path
#   scripts/fetch-chdb.sh --print    print the library path, fetch nothing
#
# Environment:
#   ORBITFLOW_CHDB_DIR   directory for libchdb.so
#                        (default $XDG_CACHE_HOME/orbitflow/chdb/<version>)
set -euo pipefail

CHDB_PACKAGE="@chdb/lib-linux-x64-gnu"
CHDB_VERSION="26.7.3-stable.1"
TARBALL_SHA256="c0d32b129e988f2b9a9a31c9141aecf5e1e2453f9a079efc4d36ab8e3f92b2ad"
LIBRARY_SHA256="36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}"
dir="${ORBITFLOW_CHDB_DIR:-$cache_root/orbitflow/chdb/$CHDB_VERSION}"
lib="$dir/libchdb.so"

say() { echo "fetch-chdb: $*" >&2; }
die() { say "error: $*"; exit 1; }

if [ "${1:-}" = "--print" ]; then
  echo "$lib"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "only linux x86_64 is supported by this script (found $(uname -s)-$(uname -m)); point orbitflow at a ClickHouse server instead (clickhouse.mode: external)" ;;
esac

# The marker records that this exact file was verified, so later runs do not
# hash 566 MB again.
marker="$dir/.verified-$LIBRARY_SHA256"
if [ -f "$lib" ] && [ -f "$marker" ]; then
  echo "$lib"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm is not installed; install Node.js and npm (Debian: apt-get install -y npm) and run this script again"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed (Debian: apt-get install -y coreutils)"

mkdir -p "$dir"
work=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "downloading $CHDB_PACKAGE@$CHDB_VERSION (~178 MB) with npm pack ..."
# A private npm cache in the work dir: the download does not linger in
# ~/.npm, and its growth is the progress shown below.
(cd "$work" && exec npm pack --silent --cache "$work/npm-cache" "$CHDB_PACKAGE@$CHDB_VERSION" >/dev/null 2>npm.log) &
npm_pid=$!
started=$SECONDS
while kill -0 "$npm_pid" 2>/dev/null; do
  sleep 5
  kill -0 "$npm_pid" 2>/dev/null || break
  got_mb=$(du -sm "$work/npm-cache" 2>/dev/null | cut -f1)
  say "  ... ${got_mb:-0} MB of ~178 MB after $((SECONDS - started)) s"
done
wait "$npm_pid" ||
  { cat "$work/npm.log" >&2; die "npm pack failed; check that the npm registry is reachable (npm ping) and run this script again"; }
tgz=$(ls "$work"/*.tgz 2>/dev/null | head -1)
[ -n "$tgz" ] || die "npm pack produced no tarball"

say "verifying tarball SHA-256 ..."
got=$(sha256sum "$tgz" | cut -d' ' -f1)
[ "$got" = "$TARBALL_SHA256" ] || die "tarball SHA-256 mismatch: got $got, want $TARBALL_SHA256 (a changed package; refusing to use it)"

say "unpacking libchdb.so (~566 MB) ..."
tar -xzf "$tgz" -C "$work" package/libchdb.so || die "could not unpack libchdb.so from $tgz"
got=$(sha256sum "$work/package/libchdb.so" | cut -d' ' -f1)
[ "$got" = "$LIBRARY_SHA256" ] || die "libchdb.so SHA-256 mismatch: got $got, want $LIBRARY_SHA256"

mv -f "$work/package/libchdb.so" "$lib"
rm -f "$dir"/.verified-*
touch "$marker"
say "installed $lib"
echo "$lib"
