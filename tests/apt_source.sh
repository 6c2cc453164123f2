#!/usr/bin/env bash
# Downloads a Debian source package's files (the .dsc, the upstream tarball,
# the Debian changes) into a directory, through a private apt configuration,
# so the machine's apt set-up (source lists, index files, caches) is left as
# it was. The private deb-src entries are derived from the machine's own
# "deb" entries (tests/apt_sources.sh): only archives it already uses, with
# the keys it already trusts, are asked; apt checks the signed index and
# each file's hash as for any download.
#
#   tests/apt_source.sh PACKAGE DIR
#
# DIR must exist; the private lists and caches go into DIR/.apt (remove DIR
# when done). Used by tests/tini_suite.sh (tini's test suite),
# tests/dumb_init_suite.sh (dumb-init's) and tests/cri/run.sh (the CRI API,
# from containerd's source package).
#
# Exit status: 0 when the files are in DIR; 3 when the machine has no "deb"
# entry to derive from; 1 when apt failed before any download (its messages
# are on stderr); 4 when `apt-get source` reported a failure, so some of the
# package's files may be missing from DIR (a caller that needs only some of
# them may check for those); 2 on wrong arguments.
set -euo pipefail

if [ $# -ne 2 ] || ! [ -d "$2" ]; then
  echo "usage: $0 PACKAGE EXISTING_DIR" >&2
  exit 2
fi
package=$1
dir=$(cd "$2" && pwd)
apt_dir="$dir/.apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
rc=0
"$(dirname "$0")/apt_sources.sh" deb-src "$apt_dir" || rc=$?
[ "$rc" = 0 ] || exit "$rc"

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
)
# As root, apt downloads as the unprivileged user _apt; let it write into
# the private directories (and reach them) instead of falling back to root
# with a warning.
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
  chmod 755 "$dir"
  chown -R _apt "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  chown _apt "$dir"
fi
apt-get "${apt_opts[@]}" -qq update || {
  echo "apt_source.sh: apt-get update of the private deb-src lists failed" >&2
  exit 1
}
(cd "$dir" && apt-get "${apt_opts[@]}" -qq source --download-only "$package" >/dev/null) || {
  echo "apt_source.sh: apt-get source --download-only $package failed" >&2
  exit 4
}
