#!/usr/bin/env bash
# Issue 12 (Step 8) on one GPU, in one call: the acceptance table re-measured with benchmarks/step_speed.py and
# the embedded dcff base run timed on CUDA. Prepared for the device machine (../shared/gpu/README.md: start the
# command with the wheel install, carry .whl), about 8 minutes on an H200:
#
#   bash benchmarks/gpu_step8.sh "$OUT"        # every table lands under $OUT (csv + md), the log on stdout
#
# Columns to read: img_per_s per precision (bf16 ≥ 1.5× fp32 for deeplabv2_r101 and fhdrnet_bn; retinanet_miaod
# bf16 > fp32 and ≥ 2× the old fp32 52.9 img/s, gpu_busy_pct ≥ 60; fhdrnet_bn bf16 ≥ 1.4× fhdrnet_official fp32;
# deeplabv2_r101 ≥ 70 img/s), and the dcff wall time against ~24 s on 2 CPU cores.
set -euo pipefail
out=${1:-data/08_reporting/gpu_step8}
mkdir -p "$out"
speed() { local name=$1; shift; python3 benchmarks/step_speed.py --device cuda --out-dir "$out/$name" "$@"; }

speed fp32_deterministic --deterministic true --no-tf32 --precision fp32 \
      --models deeplabv2_r101 fhdrnet_bn fhdrnet_official ahdrnet retinanet_miaod dcff_compact dcff_fused
speed auto --precision fp32 bf16 --profile --models deeplabv2_r101 fhdrnet_bn ahdrnet retinanet_miaod dcff_compact dcff_fused
speed channels_last --precision bf16 --channels-last --profile --models deeplabv2_r101 fhdrnet_bn retinanet_miaod
speed compile --precision bf16 --channels-last --compile --models deeplabv2_r101 retinanet_miaod

start=$(date +%s.%N)
kedro run --pipelines dcff > "$out/dcff_base.log" 2>&1
echo "dcff base run on CUDA: $(echo "$(date +%s.%N) - $start" | bc) s" | tee "$out/dcff_base_time.txt"
for f in "$out"/*/step_speed.md; do echo "== $f"; cat "$f"; done
