#!/usr/bin/env bash
# One step from a fresh machine to a usable berth: a Docker engine and berth's local images.
# Used by `npm test`, `.ci/run` and the README's quick start. Safe to re-run: it skips what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-docker.sh
node --import tsx scripts/ensure-images.ts
