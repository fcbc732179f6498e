#!/usr/bin/env bash
# Train, evaluate and ship every network in weights/ from the committed dataset data/radiomaps.
#
#   bash benchmarks/train_shipped_models.sh [MODEL ...]     # default: all, in this order
#
# Each step resumes (training checkpoints every epoch in runs/<name>/) and each evaluation writes
# runs/<name>/eval.{json,md} before shipping the weights with their model card into weights/.
# CPU times on this project's 2-core machine are noted per model; CUDA is used with --device auto.
# Run one at a time: the machine has two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RG=".venv/bin/radiomap-geo"
DATA=data/radiomaps
DEVICE=${DEVICE:-cpu}
CHANNELS=building_height,tx_height,anchor_x,anchor_y,distance,azimuth_cos,azimuth_sin,antenna_gain,los,free_space_db
ORTHO_CHANNELS=ortho_r,ortho_g,ortho_b,ndsm,tx_height,anchor_x,anchor_y,distance,azimuth_cos,azimuth_sin,antenna_gain,free_space_db
NDSM_CHANNELS=ndsm,tx_height,anchor_x,anchor_y,distance,azimuth_cos,azimuth_sin,antenna_gain,free_space_db
COMMON=(--batch-size 16 --threads 2 --device "$DEVICE" --quiet)

weights_of() { ls -t "runs/$1/$1"-*.pt | head -1; }

evaluate() { # name description [--default] [--rt-noise-tiles N]
  local name=$1 description=$2
  shift 2
  $RG evaluate "$DATA" --model "$(weights_of "$name")" --threads 2 --quiet \
    --json "runs/$name/eval.json" --markdown "runs/$name/eval.md" \
    --ship-to weights --name "$name" --description "$description" "$@"
}

train() { # name arch arch-kwargs channels extra-args...
  local name=$1 arch=$2 kwargs=$3 channels=$4
  shift 4
  # --weak-weight 0.25: what these models were trained with (the default is 1 since the loss
  # ablation, benchmarks/results/loss_ablation.md)
  $RG train "$DATA" --arch "$arch" --arch-kwargs "$kwargs" --channels "$channels" \
    --name "$name" -o "runs/$name" "${COMMON[@]}" --weak-weight 0.25 "$@"
}

model_unet_small() { # ~13 min
  train unet-small unet '{"base": 16, "depth": 4}' "$CHANNELS" --epochs 14 --lr 0.002 --crop 64
  evaluate unet-small "UNet base 16, depth 4, trained on 64-cell crops (14 CPU epochs)"
}

model_unet() { # unet-small continued on whole 128-cell maps, ~48 min
  [[ -f weights/index.json ]] || model_unet_small
  train unet unet '{"base": 16, "depth": 4}' "$CHANNELS" --epochs 12 --lr 0.001 \
    --init-weights "$(weights_of unet-small)"
  evaluate unet "UNet base 16, depth 4: unet-small fine-tuned on whole maps (faster than the default)" \
    --rt-noise-tiles 4
}

model_unet_obs() { # the default: unet + direct-ray obstruction priors, ~20 min
  [[ -f runs/unet/train_log.json ]] || model_unet
  train unet-obs unet '{"base": 16, "depth": 4}' "$CHANNELS,building_depth,knife_edge_db" \
    --epochs 6 --lr 0.0005 --init-weights "$(weights_of unet)"
  evaluate unet-obs "UNet base 16 + building-depth and knife-edge priors: unet fine-tuned (default)" \
    --default --rt-noise-tiles 4
}

model_unet_ortho() { # paper 002's image-driven case on rendered orthophotos, ~10 min
  train unet-ortho unet '{"base": 16, "depth": 4}' "$ORTHO_CHANNELS" --epochs 10 --lr 0.002 \
    --crop 64 --ortho-augment 1.0
  evaluate unet-ortho "UNet base 16 on orthophoto RGB + nDSM (trained on renderings)"
}

model_unet_ndsm() { # the nDSM-driven counterpart (no footprints, no orthophoto), ~9 min
  train unet-ndsm unet '{"base": 16, "depth": 4}' "$NDSM_CHANNELS" --epochs 10 --lr 0.002 \
    --crop 64
  evaluate unet-ndsm "UNet base 16 on an nDSM (buildings + trees; trained on renderings)"
}

model_cnn_small() { # ~6 min
  train cnn-small cnn '{"depth": 12, "width": 24}' "$CHANNELS" --epochs 5 --lr 0.002 --crop 64
  evaluate cnn-small "Paper 000 baseline CNN, 12 same-size 3x3 convolutions of 24 filters"
}

model_radiounet_small() { # ~6 min
  train radiounet-small radiounet '{"width_scale": 0.25}' "$CHANNELS" --epochs 4 --lr 0.002 \
    --crop 64
  evaluate radiounet-small "RadioUNet (two cascaded UNets), widths x0.25"
}

model_inception_unet_small() { # ~6 min
  train inception-unet-small inception_unet '{"base": 12, "depth": 4}' "$CHANNELS" --epochs 3 \
    --lr 0.002 --crop 64
  evaluate inception-unet-small "Paper 000 UNet with strided convolutions and inception modules, base 12"
}

model_pmnet_small() { # ~6 min
  train pmnet-small pmnet '{"base": 8, "n_blocks": [2, 2, 3, 2]}' "$CHANNELS" --epochs 2 \
    --lr 0.002 --crop 64 --max-train-maps 2000
  evaluate pmnet-small "PMNet (ResNet encoder, ASPP), base 8, blocks (2, 2, 3, 2)"
}

model_unet_dcn_small() { # ~6 min
  train unet-dcn-small unet_dcn '{"base": 8, "depth": 4, "max_width": 64}' "$CHANNELS" \
    --epochs 2 --lr 0.002 --crop 64 --max-train-maps 2000
  evaluate unet-dcn-small "Paper 002 UNetDCN (deformable convolutions), base 8"
}

ALL=(unet_small unet unet_obs unet_ortho unet_ndsm cnn_small radiounet_small inception_unet_small pmnet_small
  unet_dcn_small)
for model in "${@:-${ALL[@]}}"; do
  echo "== $model $(date -u +%H:%M:%S)"
  "model_${model//-/_}" || { echo "== $model FAILED"; failed=1; }
done
exit "${failed:-0}"
