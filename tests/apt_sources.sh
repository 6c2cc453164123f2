#!/usr/bin/env bash
# Writes a private copy of the machine's own apt sources, so that a test can
# ask the archives this machine already uses (with the keys it already
# trusts) without touching the machine's apt set-up, and without a host name
# ever being written into the repository.
#
#   tests/apt_sources.sh TYPE DIR
#
# TYPE is `deb` (binary packages) or `deb-src` (source packages). Every
# enabled "deb" entry of /etc/apt/sources.list, /etc/apt/sources.list.d/*.list
# (one-line format) and /etc/apt/sources.list.d/*.sources (deb822) is copied
# with its type set to TYPE; every other field (URIs, suites, components,
# Signed-By) stays as it is. Out:
#   DIR/sources.list                    the one-line entries (may be empty)
#   DIR/sources.list.d/NAME.sources     the deb822 stanzas of each NAME.sources
#
# Exit status: 0 when at least one entry was written, 3 when the machine has
# no "deb" entry to derive from, 2 on wrong arguments.
set -euo pipefail

if [ $# -ne 2 ] || { [ "$1" != deb ] && [ "$1" != deb-src ]; }; then
  echo "usage: $0 deb|deb-src DIR" >&2
  exit 2
fi
type=$1
dir=$2
mkdir -p "$dir/sources.list.d"
list="$dir/sources.list"
: >"$list"

# deb822 files: every stanza whose Types include "deb" (and that is not
# disabled) is copied with "Types: TYPE".
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  out="$dir/sources.list.d/$(basename "$f")"
  awk -v type="$type" '
    BEGIN { RS = ""; FS = "\n" }
    {
      out = ""; is_deb = 0; enabled = 1
      for (i = 1; i <= NF; i++) {
        line = $i
        if (tolower(line) ~ /^types:/) {
          if (line ~ /[: \t]deb([ \t]|$)/) is_deb = 1
          line = "Types: " type
        } else if (tolower(line) ~ /^enabled:[ \t]*no/) {
          enabled = 0
        }
        out = out line "\n"
      }
      if (is_deb && enabled) printf "%s\n", out
    }' "$f" >"$out"
  [ -s "$out" ] || rm -f "$out"
done
# One-line format: "deb [options] URI SUITE COMPONENTS" -> "TYPE ...".
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  sed -n -E "s/^[[:space:]]*deb[[:space:]]+/$type /p" "$f" >>"$list"
done

if ! [ -s "$list" ] && [ -z "$(echo "$dir"/sources.list.d/*.sources)" ]; then
  echo "apt_sources.sh: no 'deb' entries in the machine's apt sources" >&2
  exit 3
fi
