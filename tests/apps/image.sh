#!/usr/bin/env bash
# Builds the image the real-application tests run (tests/applications.rs,
# tests/apps/stop_loses.py), offline, from Debian's packages:
#
#   DOCKER_HOST=unix://... tests/apps/image.sh STATIC_TINI_RS
#
# 1. A Debian root filesystem (mmdebstrap, the machine's own release and apt
#    sources, read by tests/apt_sources.sh) with redis, postgresql, nginx,
#    python3, curl, and the peers tini, dumb-init and catatonit. It is cached
#    as a tarball under $TINI_RS_CACHE_DIR (default /var/cache/tini-rs-tests),
#    keyed by a hash of what makes it (packages, hook, apt sources), so
#    only the first run on a machine builds it (80 to 110 s here); the others
#    import it.
# 2. `docker import` of that tarball as tini-rs-apps-base:HASH (once per
#    engine), then a thin layer FROM it holding the static tini-rs at
#    /tini-rs (tests/apps/Dockerfile), tagged tini-rs-apps:test.
#
# Prints the image name (tini-rs-apps:test) on stdout; progress goes to
# stderr. When something it needs is missing (mmdebstrap, apt, the engine)
# it fails if CI is set, and outside CI prints "SKIPPED ..." on stderr and
# exits 0 with nothing on stdout: the tests then skip too.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: DOCKER_HOST=unix://SOCKET $0 STATIC_TINI_RS" >&2
  exit 2
fi
tini_rs=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${TINI_RS_CACHE_DIR:-/var/cache/tini-rs-tests}
docker_cli=${TINI_RS_DOCKER_CLI:-$(command -v /usr/bin/docker || command -v docker || true)}
image=tini-rs-apps:test

unavailable() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL tests/apps/image.sh: $1 (CI is set: refusing to skip)" >&2
    exit 1
  fi
  echo "SKIPPED real-application image: $1" >&2
  exit 0
}

[ -x "$tini_rs" ] || unavailable "$tini_rs is not an executable file"
[ -n "${DOCKER_HOST:-}" ] || unavailable "DOCKER_HOST is unset (docker/engine.sh start DIR prints it)"
[ -n "$docker_cli" ] || unavailable "no docker CLI (apt-get install docker.io)"
command -v mmdebstrap >/dev/null || unavailable "mmdebstrap not found (apt-get install mmdebstrap)"
VERSION_CODENAME=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
[ -n "$VERSION_CODENAME" ] || unavailable "no VERSION_CODENAME in /etc/os-release (needs Debian)"

# What goes into the root filesystem. tini's package holds tini and
# tini-static; procps gives ps and pgrep to the tests' scripts.
packages=(redis-server postgresql nginx python3 curl procps tini dumb-init catatonit)

work=$(mktemp -d /tmp/tini-rs-apps-image.XXXXXX)
part="" # a tarball being written: never left behind half-made
trap 'rm -rf "$work"; [ -z "$part" ] || rm -f "$part"' EXIT

rc=0
"$repo/tests/apt_sources.sh" deb "$work/apt" || rc=$?
[ "$rc" = 0 ] || unavailable "cannot derive apt sources from the machine (tests/apt_sources.sh: $rc)"
mirrors=()
[ -s "$work/apt/sources.list" ] && mirrors+=("$work/apt/sources.list")
for f in "$work"/apt/sources.list.d/*.sources; do
  [ -e "$f" ] && mirrors+=("$f")
done

# Inside the root filesystem, after the packages are installed:
# - the PostgreSQL programs (in /usr/lib/postgresql/VERSION/bin) on PATH;
# - a database cluster made once here, at /srv/pg, owned by postgres (each
#   container gets its own copy-on-write copy, so no test waits for initdb);
# - /data for redis, /srv/www for nginx's files, /out for the tests' volumes.
customize=$(
  cat <<'HOOK'
set -e
root=$1
bin=$(ls -d "$root"/usr/lib/postgresql/*/bin | sort -V | tail -n 1)
for p in initdb pg_ctl postgres pg_controldata psql; do
  ln -sf "${bin#"$root"}/$p" "$root/usr/local/bin/$p"
done
mkdir -p "$root/srv/pg" "$root/data" "$root/srv/www" "$root/out"
chroot "$root" chown postgres:postgres /srv/pg
chroot "$root" chmod 700 /srv/pg
chroot "$root" setpriv --reuid=postgres --regid=postgres --init-groups \
  /usr/local/bin/initdb --auth=trust --username=postgres --no-sync -D /srv/pg >/dev/null
HOOK
)
mm_opts=(--mode=root --variant=apt --format=tar
  --aptopt='APT::Install-Recommends "false"'
  --include="$(
    IFS=,
    echo "${packages[*]}"
  )"
  --customize-hook="$customize")

# The cache key: everything that makes the tarball (mmdebstrap's options,
# so the packages and the hook, the release, the architecture and the
# sources asked), and nothing else: editing a comment here rebuilds
# nothing, a new package or archive snapshot builds a new tarball.
key=$(
  {
    printf '%s\n' "${mm_opts[@]}" "$VERSION_CODENAME" "$(dpkg --print-architecture)"
    cat "${mirrors[@]}"
  } | sha256sum | cut -c1-16
)
tarball="$cache/apps-rootfs-$key.tar"

if [ -s "$tarball" ]; then
  echo "== apps image: cached root filesystem $tarball" >&2
else
  echo "== apps image: building the root filesystem ($VERSION_CODENAME: ${packages[*]})" >&2
  mkdir -p "$cache"
  part="$tarball.part.$$"
  if ! mmdebstrap "${mm_opts[@]}" "$VERSION_CODENAME" "$part" "${mirrors[@]}" \
    >"$work/mmdebstrap.log" 2>&1; then
    tail -n 30 "$work/mmdebstrap.log" >&2
    unavailable "mmdebstrap failed (the last lines of its log are above)"
  fi
  mv "$part" "$tarball"
  part=""
  # Tarballs of earlier keys are no use any more.
  find "$cache" -maxdepth 1 -name 'apps-rootfs-*.tar' ! -name "$(basename "$tarball")" -delete
fi

dk() { "$docker_cli" -H "$DOCKER_HOST" "$@"; }
dk info >/dev/null 2>&1 || unavailable "no Docker engine answers at $DOCKER_HOST"
base="tini-rs-apps-base:$key"
if ! dk image inspect "$base" >/dev/null 2>&1; then
  echo "== apps image: docker import as $base" >&2
  dk import "$tarball" "$base" >/dev/null
fi
ctx="$work/context"
mkdir -p "$ctx"
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$tini_rs" "$ctx/tini-rs"
echo "== apps image: $image (the static tini-rs on top of $base)" >&2
DOCKER_BUILDKIT=0 dk build -q --build-arg "BASE=$base" -t "$image" "$ctx" >/dev/null
echo "$image"
