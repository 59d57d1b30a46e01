#!/usr/bin/env bash
# One entry point for a fresh clone: sets everything up, then runs the main job or the tests.
#   bash run.sh zoo [ARGS...]   build, evaluate and report one model per family into ./zoo
#   bash run.sh test [ARGS...]  run the whole test suite
#   bash run.sh setup           only set up .venv
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  # torch first and pinned: any unpinned resolution would pull a multi-GB CUDA build.
  if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==2.13.0"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -e ".[test]"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  zoo) setup; exec "$VENV/bin/bigmodel" zoo "$@" ;;
  test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: bash run.sh zoo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
