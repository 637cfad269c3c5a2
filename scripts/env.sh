# Sourced by the other scripts: create or reuse the virtual environment and install what is pinned.
# Usage: source scripts/env.sh REQUIREMENTS_FILE
# Settings: SOUNDLAB_PYTHON (interpreter to build the venv with, default python3.11 or python3),
#           SOUNDLAB_VENV (default .venv in the repo).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQS=${1:-requirements.txt}
VENV=${SOUNDLAB_VENV:-$ROOT/.venv}

if [ ! -x "$VENV/bin/python" ]; then
  PY=${SOUNDLAB_PYTHON:-$(command -v python3.11 || command -v python3)}
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "SoundLab needs Python 3.11, this is " + sys.version' \
    || { echo "Set SOUNDLAB_PYTHON to a Python 3.11 interpreter." >&2; exit 1; }
  echo "Creating the virtual environment in $VENV ..." >&2
  "$PY" -m venv "$VENV"
fi

# Reinstall only when a requirements file changed.
stamp="$VENV/.installed-$(basename "$REQS")-$(cat "$ROOT/requirements.txt" "$ROOT/$REQS" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing $REQS into $VENV (first run takes a few minutes) ..." >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch first, as the CPU build: PyPI's default Linux wheel pulls several GB of CUDA libraries.
  if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --retries 1 --timeout 30 \
      --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
  fi
  "$VENV/bin/python" -m pip install --quiet -r "$ROOT/$REQS"
  rm -f "$VENV/.installed-$(basename "$REQS")-"*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
