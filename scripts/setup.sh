#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: Debian packages, npm packages, build.
#   scripts/setup.sh          what `berth demo` needs (bubblewrap, npm deps, build)
#   scripts/setup.sh --test   also what the test suite needs (PostgreSQL server, gVisor's runsc)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs=()
command -v bwrap >/dev/null 2>&1 || pkgs+=(bubblewrap)
command -v git >/dev/null 2>&1 || pkgs+=(git)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
# Workspace disk quotas: an ext4 image per sandbox, loop-mounted.
command -v mkfs.ext4 >/dev/null 2>&1 || pkgs+=(e2fsprogs)
command -v losetup >/dev/null 2>&1 || pkgs+=(mount)
# The egress tests drive curl inside sandboxes and make a test CA with openssl.
if [ "$want_test" = 1 ]; then
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
fi
if [ "$want_test" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pkgs+=(postgresql)
fi
# The gVisor driver's conformance and end-to-end tests run real runsc sandboxes.
if [ "$want_test" = 1 ] && ! command -v runsc >/dev/null 2>&1; then
  pkgs+=(runsc)
fi
if [ "${#pkgs[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${pkgs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install (better-sqlite3 builds from source: ~1.5 min).
stamp=node_modules/.berth-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

npm run --silent build
echo "setup: done"
