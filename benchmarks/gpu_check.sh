#!/usr/bin/env bash
# The prepared GPU check in one line (under 8 minutes on one GPU); extra arguments go to gpu_check.py.
# Writes the markdown report to $OUT/gpu_check.md when $OUT is set (the device machine's output folder).
# The CIFAR subset is read from ../shared/data/... or ./shared/data/cifar10_jpg_subset/ (pass --data otherwise).
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
export WANDB_MODE=offline DL_LABS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/dl-labs-inductor}"
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
if [ -n "${OUT:-}" ]; then
  "$PY" benchmarks/gpu_check.py --json "$OUT/gpu_check.json" "$@" 2>&1 | tee "$OUT/gpu_check.log"
  status=$?
  # the report is what follows the "# GPU check" heading
  sed -n '/^# GPU check$/,$p' "$OUT/gpu_check.log" > "$OUT/gpu_check.md"
  exit $status
fi
exec "$PY" benchmarks/gpu_check.py "$@"
