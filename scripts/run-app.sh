#!/usr/bin/env bash
# Set up (first run) and start SoundLab. Opens on its shipped sample if no dataset is present.
# Extra arguments go to `streamlit run` (e.g. --server.port 8600).
set -euo pipefail
source "$(dirname "$0")/env.sh" requirements.txt
# two malloc arenas instead of one per thread: Streamlit runs every script run in a thread of its own, and memory freed
# in one thread's arena stayed there (components/memory.py; bench/RESULTS.md, "Memory across visitors")
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec python scripts/serve.py "$@"
