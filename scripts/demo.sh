#!/usr/bin/env bash
# Fresh machine to running demo: installs what is needed, then `berth demo` (SQLite, bwrap sandboxes, scripted model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx berth demo "$@"
