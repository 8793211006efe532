#!/usr/bin/env bash
# Train a bundled model on an accelerator machine in under 10 minutes and leave its weights file in
# OUT_DIR. Nothing in handpose needs this: the bundled weights are trained on the CPU with the
# configs named below (docs/model_card.md); this is the same recipe, wider batches and more epochs,
# for when a GPU is at hand.
#
#   scripts/train_on_gpu.sh pose|detector OUT_DIR [MINUTES] [KEY=VALUE ...]
#
# KEY=VALUE: config overrides after the recipe's own, e.g. `model.mix_style=0.5` for the pose
# model with MixStyle (docs/results.md, "Two training-time changes for the domain gap").
# The synthetic images are generated first by as many processes as the machine has cores
# (data.workers, which prepare_synth_set also uses), then the same workers feed the GPU. MINUTES
# (default 7) caps the training (trainer.max_time); generation comes on top (55 images/s per core
# here, docs/results.md: about 20 s for the pose model's 12,600 images on 14 workers, if the
# accelerator machine's cores are as fast). Not yet run on an accelerator: none was lent so far. The weights file ($OUT_DIR/<model>_gpu.pt) is what `handpose export`
# writes and what `handpose predict --weights` / `--detector` take; evaluate it before it replaces a
# bundled file (docs/model_card.md lists the commands).
#
# Needs python3 with torch (CUDA), lightning, opencv, scipy, pyyaml and tqdm, as the accelerator
# machines here have; run from the repository root (PYTHONPATH=. so no install is needed).
set -euo pipefail

usage="usage: scripts/train_on_gpu.sh pose|detector OUT_DIR [MINUTES] [KEY=VALUE ...]"
model=${1:?"$usage"}
out=${2:?"$usage"}
minutes=${3:-7}
extra=("${@:4}")
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
python=${PYTHON:-python3}
export PYTHONPATH=.
mkdir -p "$out"

case "$model" in
  pose)
    config=configs/default_long.yaml
    overrides=(data.batch_size=128 optimizer.lr=4.0e-3 trainer.max_epochs=60 early_stopping.enabled=false)
    ;;
  detector)
    config=configs/detection/detector_synth.yaml
    overrides=(data.batch_size=64 data.train.0.count=24000 optimizer.lr=3.0e-3 trainer.max_epochs=30)
    ;;
  *)
    echo "error: model must be 'pose' or 'detector', got '$model'" >&2
    exit 2
    ;;
esac

name="${model}_gpu"
"$python" -m handpose.cli.main train "$config" name="$name" output_dir="$out/run" data.cache_dir="$out/cache" \
  trainer.accelerator=gpu trainer.devices=1 trainer.precision=bf16-mixed \
  "trainer.max_time=00:00:$(printf %02d "$minutes"):00" data.workers="$workers" "${overrides[@]}" "${extra[@]}"
"$python" -m handpose.cli.main export "$out/run/checkpoints/best.ckpt" --out "$out/${name}.pt"
echo "weights: $out/${name}.pt"
