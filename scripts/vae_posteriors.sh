#!/usr/bin/env bash
# Compares the VAE's posterior flows on dynamically binarised MNIST within a CPU budget:
# the same dense encoder and decoder (configs/vae_dense_cpu.toml), the same number of flow
# steps, epochs, training images and seed for every posterior; test -log p(x) by importance
# sampling. Writes RUNS/<posterior>/ and RUNS/posteriors.md.
#   bash scripts/vae_posteriors.sh [RUNS]      (env: TRAIN_SIZE EPOCHS STEPS EXAMPLES IS_SAMPLES)
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
RUNS=${1:-runs/vae-posteriors}
TRAIN_SIZE=${TRAIN_SIZE:-50000} EPOCHS=${EPOCHS:-20} STEPS=${STEPS:-4}
EXAMPLES=${EXAMPLES:-1000} IS_SAMPLES=${IS_SAMPLES:-200}
POSTERIORS=${POSTERIORS:-"diagonal iaf naf planar radial sylvester-orthogonal sylvester-householder sylvester-triangular"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$RUNS"
for posterior in $POSTERIORS; do
  out="$RUNS/$posterior"
  if [ ! -f "$out/evaluation_test.json" ]; then
    maflow vae train --config vae_dense_cpu --out "$out" --data-dir "${DATA_DIR:-../shared/data}" \
      --train-size "$TRAIN_SIZE" --epochs "$EPOCHS" --seed 0 \
      --set "model.posterior=\"$posterior\"" --set "model.flow_steps=$STEPS" \
      --set "train.warmup_epochs=$((EPOCHS / 3))" --set "train.eval_every=$EPOCHS"
    maflow vae evaluate --out "$out" --data-dir "${DATA_DIR:-../shared/data}" --split test \
      --num-examples "$EXAMPLES" --is-samples "$IS_SAMPLES"
  fi
done
python - "$RUNS" $POSTERIORS <<'PY'
import json, subprocess, sys
from pathlib import Path

runs, posteriors = Path(sys.argv[1]), sys.argv[2:]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
lines = [
    "| posterior | test -log p(x), IS (± 2 SE) | test -ELBO (± 2 SE) |",
    "|---|---|---|",
]
for name in posteriors:
    result = json.loads((runs / name / "evaluation_test.json").read_text())["importance_sampling"]
    lines.append(
        f"| {name} | {result['nll']:.2f} ± {result['nll_error_2se']:.2f} "
        f"| {result['neg_elbo']:.2f} ± {result['neg_elbo_error_2se']:.2f} |"
    )
text = "\n".join(lines) + f"\n\ncommit {commit}; IS with {result['num_samples']} samples on {result['num_examples']} test images\n"
(runs / "posteriors.md").write_text(text)
print(text)
PY
