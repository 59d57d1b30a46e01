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

# Debian's chromium for the web page's browser tests (Playwright drives it; never a browser
# download). Idempotent; a failure is explained here, and those tests then fail saying so.
browser() {
  [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    local log
    if ! log=$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } 2>&1 ); then
      echo "setup: could not install chromium with apt-get; the browser tests will fail. apt-get said:" >&2
      echo "$log" | tail -5 >&2
    fi
  else
    echo "setup: /usr/bin/chromium is missing and apt-get cannot run here (not root); the browser tests will fail" >&2
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  zoo) setup; exec "$VENV/bin/bigmodel" zoo "$@" ;;
  test) setup; browser; exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: bash run.sh zoo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
