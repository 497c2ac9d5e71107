#!/usr/bin/env bash
# berth's main job, end to end, on a fresh machine (README quick start, `npm run demo`):
# bring up Docker and the images, then in a throw-away repository give an "agent" a workspace,
# run commands in its container through the persistent shell, run its tests in a one-shot
# pipeline container, checkpoint, review the diff, and clean up.
set -euo pipefail
cd "$(dirname "$0")/.."
here="$(pwd)"
bash scripts/setup.sh

tmp="$(mktemp -d -t berth-demo-XXXXXX)"
export BERTH_DATA_DIR="$tmp/data"
berth() { node "$here/bin/berth.js" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Toolchain cache volumes and ready-dependency snapshots outlive workspaces by design; the demo's
# own ones go with it.
volumes_before="$(docker volume ls -q --filter label=dev.berth.managed=1 2>/dev/null | sort || true)"
deps_images() { docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep '^berth-deps/' | sort || true; }
deps_before="$(deps_images)"
cleanup() {
  (cd "$tmp/repo" 2>/dev/null && berth ws delete demo >/dev/null 2>&1) || true
  if command -v docker >/dev/null 2>&1; then
    comm -13 <(printf '%s\n' "$volumes_before") <(docker volume ls -q --filter label=dev.berth.managed=1 | sort) |
      xargs -r docker volume rm >/dev/null 2>&1 || true
    comm -13 <(printf '%s\n' "$deps_before") <(deps_images) | xargs -r docker rmi >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step "a small project in a fresh git repository"
mkdir -p "$tmp/repo" && cd "$tmp/repo"
git init -q -b main && git config user.email demo@example.com && git config user.name demo
cat > package.json <<'JSON'
{ "name": "demo", "version": "1.0.0", "scripts": { "test": "node --test" } }
JSON
printf '{ "name": "demo", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": { "": { "name": "demo", "version": "1.0.0" } } }\n' > package-lock.json
mkdir -p src
echo 'export const add = (a, b) => a + b;' > src/math.js
git add -A && git commit -qm "initial commit"
berth spec

step "berth ws create demo   (branch berth/demo + a worktree outside this checkout)"
berth ws create demo

step "berth exec: cd and export persist in the workspace's shell"
berth exec demo --create -- 'cd src && export GREETING="hello from the container"'
berth exec demo -- 'pwd; echo "$GREETING"; node --version'

step "the agent writes code and a test inside the workspace"
berth exec demo -- "cat > math.test.js <<'JS'
import { test } from 'node:test';
import assert from 'node:assert';
import { add } from './math.js';
test('add', () => assert.equal(add(2, 3), 5));
JS
echo '{\"type\":\"module\"}' > package.json && ls"

step "berth test --source=<worktree>   (one-shot pipeline container, network none)"
worktree="$(berth ws show demo --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).worktree ?? JSON.parse(s).workspace.worktree))')"
berth test --source="$worktree"

step "berth ws checkpoint + diff   (what you would review before merging)"
berth ws checkpoint demo -m "add a test for add()"
berth ws diff demo --stat
berth ws list

step "berth ws delete demo   (container, worktree, branch and state note)"
berth ws delete demo
git branch --list 'berth/*' | wc -l | xargs -I{} echo "berth branches left: {}"
echo
echo "demo finished: your own repositories work the same way (see README: berth mcp, berth config agent claude)."
