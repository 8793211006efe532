#!/usr/bin/env bash
# Train every reference model on the synthetic default with the same budget, then evaluate them
# together on the held-out synthetic test split (seed 3) and, when present, the real development set.
# Usage: benchmarks/compare_models.sh [MINUTES_PER_MODEL] [OUT]   (defaults: 6, runs/compare)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-6}
out=${2:-runs/compare}
bin=.venv/bin
budget=$(printf "00:00:%02d:00" "$minutes")
mkdir -p "$out"
for config in default unet_synth cpm_synth nsrm_synth; do
  start=$(date +%s)
  $bin/handpose train configs/$config.yaml trainer.max_time=$budget trainer.enable_progress_bar=false \
    output_dir=$out/$config > "$out/$config.log" 2>&1
  echo "$config $(( $(date +%s) - start ))" >> "$out/train_seconds.txt"
done
test_set=$($bin/python -c "
from handpose.synth.cache import prepare_synth_set
print(prepare_synth_set(300, 3, 256, 'runs/cache'))")
ckpts=$(for c in default unet_synth cpm_synth nsrm_synth; do echo $out/$c/checkpoints/best.ckpt; done)
$bin/handpose eval $ckpts --data "coco:$test_set" --out $out/eval_synthetic_test
real=../shared/data/real/uci_hand/annotations.json
if [ -f "$real" ]; then
  $bin/handpose eval $ckpts --data "coco:$real" --out $out/eval_real_dev
fi
