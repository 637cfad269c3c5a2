#!/usr/bin/env bash
# Set up (first run) and start SoundLab. Opens on its shipped sample if no dataset is present.
# Extra arguments go to `streamlit run` (e.g. --server.port 8600).
set -euo pipefail
source "$(dirname "$0")/env.sh" requirements.txt
exec python scripts/serve.py "$@"
