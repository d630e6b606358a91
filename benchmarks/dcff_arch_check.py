"""Compact-model MACs/params from our counter against the numbers the DCFF paper/README print.

    .venv/bin/python benchmarks/dcff_arch_check.py

Counting rules: cvpapers.engine.flops (thop-0.0.31 convention: conv bias and eval BN counted, MACs
not doubled). Writes data/08_reporting/dcff/arch_check.{csv,md} and prints the Markdown table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cvpapers.engine.flops import count_macs_params
from cvpapers.io.datasets import to_markdown
from cvpapers.models.classification import build_classifier
from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates

# (arch, preset, input side, classes, paper FLOPs in M, paper params in M)
PAPER = [
    ("vgg16", "vgg16", 32, 10, 72.77, 1.06),
    ("resnet56", "resnet56", 32, 10, 55.84, 0.38),
    ("resnet110", "resnet110", 32, 10, 85.30, 0.56),
    ("resnet50", "resnet50_step_0.96b", 224, 1000, 958.07, 7.40),
    ("resnet50", "resnet50_step_1.49b", 224, 1000, 1490.51, 10.58),
    ("resnet50", "resnet50_step_2.25b", 224, 1000, 2248.78, 15.16),
    ("resnet50", "resnet50_cos_1.52b", 224, 1000, 1522.96, 11.05),
    ("resnet50", "resnet50_cos_1.38b", 224, 1000, 1380.92, 11.81),
    ("resnet50", "resnet50_cos_1.02b", 224, 1000, 1023.26, 6.56),
]


def main() -> None:
    rows = []
    for arch, preset, side, classes, p_flops, p_params in PAPER:
        size = (1, 3, side, side)
        full_macs, full_params = count_macs_params(build_classifier(arch, classes), size)
        rates = expand_layer_rates(arch, PAPER_RATES[preset])
        macs, params = count_macs_params(build_classifier(arch, classes, rates), size)
        rows.append({
            "model": preset,
            "FLOPs (M), ours": round(macs / 1e6, 2),
            "FLOPs (M), paper": p_flops,
            "FLOPs ↓ ours": f"{100 * (1 - macs / full_macs):.2f}%",
            "params (M), ours": round(params / 1e6, 2),
            "params (M), paper": p_params,
            "params ↓ ours": f"{100 * (1 - params / full_params):.2f}%",
        })
    df = pd.DataFrame(rows)
    out = Path("data/08_reporting/dcff")
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "arch_check.csv", index=False)
    (out / "arch_check.md").write_text(to_markdown(df) + "\n")
    print(to_markdown(df))


if __name__ == "__main__":
    main()
