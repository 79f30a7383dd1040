#!/usr/bin/env bash
# The GPU check of the project, one script (<= 8 minutes on one H100, no network):
#   1. random VGGT-1B weights in the official layout (.gpu_data/model.pt);
#   2. 10 steps of `tools/train.py --config scannet200` with its real batch (<= 48 images, bf16-mixed,
#      clipping, teacher, LoRA, prompts, FADA) on a few ScanNet-layout scenes, then its final evaluation;
#   3. `tools/eval.py` on the run's last.ckpt;
#   4. one training step's peak memory and time at 24 and 48 images (benchmarks/bench_train_memory.py);
#   5. the inference benchmark (benchmarks/bench_inference_gpu.py, S = 10 ... 500, or $GPU_CHECK_FRAMES),
#      last, as it prints a row per S: a run cut short by a time limit still has the rest;
# and prints one table of the numbers at the end.
#
#   bash benchmarks/gpu_check.sh prepare   # on the CPU machine, which has open3d: .gpu_data/scannet200
#   bash benchmarks/gpu_check.sh           # on the GPU machine (carry .gpu_data; it is git-ignored)
#   GPU_CHECK_DRY_RUN=1 bash benchmarks/gpu_check.sh   # the same commands on a CPU with a tiny backbone
#
# The ScanNet-layout scenes are ray cast with open3d, which the GPU image lacks, so they are made
# beforehand on the CPU machine (`prepare`, ~1 minute) and carried (a few MB). Without a CUDA GPU the
# check says so and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DATA=.gpu_data
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "${1:-}" = "prepare" ]; then
    rm -rf "$DATA/scannet200"
    exec "$PY" benchmarks/gpu_check_data.py scenes --out "$DATA/scannet200"
fi

DRY=${GPU_CHECK_DRY_RUN:-0}
CONFIG=scannet200
WEIGHTS="$DATA/model.pt"
if [ "$DRY" = 1 ]; then
    echo "gpu_check: DRY RUN on the CPU with a tiny backbone (checks the commands, measures nothing)"
    CONFIG="$DATA/tiny/scannet200_tiny.yaml"
    WEIGHTS="$DATA/tiny/model.pt"
elif ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU on this machine - nothing to check (run it where the device tool lends one)"
    exit 0
fi
if [ ! -f "$DATA/scannet200/splits/train.txt" ]; then
    echo "gpu_check: no prepared scenes in $DATA/scannet200: run 'bash benchmarks/gpu_check.sh prepare' on a" \
         "machine with open3d first and carry $DATA" >&2
    exit 2
fi
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: > "$LOG"
step() { echo "== $1 ($(date +%T))" | tee -a "$LOG"; }
t0=$(date +%s)
"$PY" -c "import torch; print('GPU_CHECK device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu (dry run)', '| torch', torch.__version__)" | tee -a "$LOG"

step "random VGGT-1B weights"
if [ "$DRY" = 1 ]; then
    "$PY" benchmarks/gpu_check_data.py weights --tiny --out "$DATA/tiny" 2>&1 | tee -a "$LOG"
else
    [ -f "$WEIGHTS" ] || "$PY" benchmarks/gpu_check_data.py weights --out "$DATA" 2>&1 | tee -a "$LOG"
fi

step "tools/train.py --config scannet200: 10 steps, then the final evaluation"
RUN="$OUT/run"
rm -rf "$RUN"
ts=$(date +%s)
"$PY" tools/train.py --config "$CONFIG" --out "$RUN" --set pretrained="$WEIGHTS" data.root="$DATA/scannet200" \
    trainer.max_steps=10 trainer.devices=1 trainer.strategy=auto trainer.log_every_n_steps=1 \
    trainer.val_every_n_steps=10 trainer.limit_val_batches=1 trainer.checkpoint_every_n_steps=10 \
    data.num_workers=4 eval.max_frames=30 2>&1 | grep -v "it/s\]" | tee -a "$LOG"
train_rc=${PIPESTATUS[0]}
echo "GPU_CHECK train_exit $train_rc, $(( $(date +%s) - ts )) s with model build, checkpoint and evaluation" | tee -a "$LOG"
if [ -f "$RUN/last.ckpt" ]; then
    echo "GPU_CHECK checkpoint $(du -h "$RUN/last.ckpt" | cut -f1) last.ckpt; files: $(ls "$RUN"/*.ckpt "$RUN"/checkpoints 2>/dev/null | tr '\n' ' ')" | tee -a "$LOG"
    "$PY" - "$RUN" <<'PY' 2>&1 | tee -a "$LOG"
import csv, glob, json, statistics, sys
run = sys.argv[1]
rows = [r for f in sorted(glob.glob(f"{run}/logs/version_*/metrics.csv")) for r in csv.DictReader(open(f))]
loss = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
print(f"GPU_CHECK train_loss first {loss[0]:.3f} last {loss[-1]:.3f} ({len(loss)} steps)" if loss else "GPU_CHECK train_loss none")
m = json.load(open(f"{run}/metrics.json")) if glob.glob(f"{run}/metrics.json") else {}
print("GPU_CHECK final_eval " + (f"device {m.get('device')}, ap50 {m.get('ap50')}, depth_abs_rel {m.get('depth_abs_rel')}" if m else "missing"))
PY

    step "tools/eval.py on last.ckpt"
    ts=$(date +%s)
    "$PY" tools/eval.py --config "$CONFIG" --ckpt "$RUN/last.ckpt" --data-root "$DATA/scannet200" \
        --set eval.max_frames=30 --json "$OUT/eval.json" 2>&1 | grep -v "it/s\]" | tee -a "$LOG"
    echo "GPU_CHECK eval_exit ${PIPESTATUS[0]}, $(( $(date +%s) - ts )) s with loading" | tee -a "$LOG"
fi

step "one training step at 24 and 48 images"
"$PY" benchmarks/bench_train_memory.py --device cuda --images 24 48 2>&1 | tee -a "$LOG"

step "inference benchmark"
"$PY" benchmarks/bench_inference_gpu.py --frames ${GPU_CHECK_FRAMES:-10 50 100 200 500} 2>&1 | tee -a "$LOG"

echo
echo "== gpu_check summary ($(( $(date +%s) - t0 )) s in all; full log: $LOG)"
grep -h "GPU_CHECK\|^ *S \|^ *[0-9]\+ " "$LOG" | sed 's/^GPU_CHECK //'
cp "$LOG" "${OUT_DIR:-$OUT}/" 2>/dev/null || true
exit 0
