#!/usr/bin/env bash
# The prepared GPU check in one line (under 8 minutes on one GPU); extra arguments go to gpu_check.py.
# Writes the log, the JSON results and the markdown report (gpu_check.md) to $OUT when $OUT is set.
#
# On the device machine (see docs/speed.md, "The GPU check"): its python3 has torch, lightning, torchvision and
# torchmetrics but not jsonargparse, which LightningCLI needs: carry wheels in .whl/ (installed below when present).
# The data travels only inside the checkout: copy ../shared/data to ./shared/data first (26 MB), e.g.
#   mkdir -p shared && cp -r ../shared/data shared/
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
export WANDB_MODE=offline DL_LABS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/dl-labs-inductor}"
PY="${PYTHON:-python3}"
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
if [ -d .whl ] && ! "$PY" -c "import jsonargparse" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -n "${OUT:-}" ]; then
  "$PY" benchmarks/gpu_check.py --json "$OUT/gpu_check.json" "$@" 2>&1 | tee "$OUT/gpu_check.log"
  status=$?
  sed -n '/^# GPU check$/,$p' "$OUT/gpu_check.log" > "$OUT/gpu_check.md"  # the report follows its heading
  exit $status
fi
exec "$PY" benchmarks/gpu_check.py "$@"
