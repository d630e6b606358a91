"""The paper's claim as metrics, and the result table (spec §7, §8).

Claim: at the same target α, CC (pruning + decomposition) reaches a higher top-1 than pruning-only CC,
right after compression (``claim/top1_before_ft_gain_vs_prune_only``, the robust claim) and after the
same fine-tuning (``claim/top1_gain_vs_prune_only``, judged on the mean of five seeds). ``claim/<what>``
is always CC − prune-only. CC vs td-only and the FLOPs gap between variants go under ``compare/``.
``claim/holds`` comes from :func:`claim_holds`, the one rule (the README states it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

#: A model "learned" when its top-1 is above this multiple of chance (100 % / classes).
LEARNED_OVER_CHANCE = 2.0


def claim_holds(
    before_ft_gain: float, pretrained_top1: float, cc_before_ft_top1: float, num_classes: int
) -> bool:
    """CC is ahead of pruning-only right after compression (gain > 0), and the models learned: the
    pretrained network and CC's compressed one are above twice chance (20 % for 10 classes), so that two
    untrained networks never make the claim hold."""
    chance = 100.0 / num_classes
    learned = min(pretrained_top1, cc_before_ft_top1) > LEARNED_OVER_CHANCE * chance
    return bool(learned and before_ft_gain > 0)


def claim_metrics(
    num_classes: int,
    pretrain: Mapping[str, float],
    compress: Mapping[str, Mapping[str, float]],
    finetune: Mapping[str, Mapping[str, float]],
) -> dict[str, float]:
    cc, po, td = "cc", "prune_only", "td_only"
    metrics = {
        "claim/top1_before_ft_gain_vs_prune_only": compress[cc]["top1_before_ft"]
        - compress[po]["top1_before_ft"],
        "claim/top1_gain_vs_prune_only": finetune[cc]["top1"] - finetune[po]["top1"],
        "claim/top1_gain_vs_prune_only_last": finetune[cc]["top1_last"] - finetune[po]["top1_last"],
        "compare/top1_best_gain_vs_prune_only": finetune[cc]["top1_best"] - finetune[po]["top1_best"],
        "compare/top1_gain_vs_td_only": finetune[cc]["top1"] - finetune[td]["top1"],
        "compare/top1_before_ft_gain_vs_td_only": compress[cc]["top1_before_ft"]
        - compress[td]["top1_before_ft"],
        "compare/flops_reduction_gap_vs_prune_only": (
            compress[cc]["flops_reduction_layerwise"] - compress[po]["flops_reduction_layerwise"]
        ),
        "compare/flops_reduction_gap_vs_td_only": (
            compress[cc]["flops_reduction_layerwise"] - compress[td]["flops_reduction_layerwise"]
        ),
        "pretrained_top1": pretrain["top1"],
    }
    metrics["claim/holds"] = float(
        claim_holds(
            metrics["claim/top1_before_ft_gain_vs_prune_only"],
            pretrain["top1"],
            compress[cc]["top1_before_ft"],
            num_classes,
        )
    )
    return metrics


VARIANT_LABELS = {"cc": "CC (pruning + td)", "prune_only": "pruning only", "td_only": "td only"}


def results_table(
    pretrain: Mapping[str, float],
    compress: Mapping[str, Mapping[str, float]],
    finetune: Mapping[str, Mapping[str, float]],
    sensitivity: Mapping[str, Mapping[str, float]],
    com_ratio: float,
) -> pd.DataFrame:
    """One row per variant (and the pretrained model), columns in the spec's order (§7) plus the overshoot."""
    rows: list[dict[str, Any]] = [
        {
            "variant": "pretrained",
            "top1": pretrain["top1"],
            "top1_last_epoch": pretrain["top1_last"],
            "top1_before_ft": pretrain["top1"],
            "flops_reduction_layerwise": 0.0,
            "flops_reduction_real": 0.0,
            "params_reduction": 0.0,
            "MMACs": pretrain["flops"] / 1e6,
            "Mparams": pretrain["params"] / 1e6,
            "compress_time_s": 0.0,
            "ft_time_s": 0.0,
            "overshoot": float("nan"),
        }
    ]
    for v, label in VARIANT_LABELS.items():
        c, f = compress[v], finetune[v]
        rows.append(
            {
                "variant": label,
                "top1": f["top1"],
                "top1_last_epoch": f["top1_last"],
                "top1_before_ft": c["top1_before_ft"],
                "flops_reduction_layerwise": c["flops_reduction_layerwise"],
                "flops_reduction_real": c["flops_reduction_real"],
                "params_reduction": c["params_reduction"],
                "MMACs": c["flops"] / 1e6,
                "Mparams": c["params"] / 1e6,
                "compress_time_s": c["time_s"] + sensitivity[v]["time_s"],
                "ft_time_s": f["time_s"],
                "overshoot": c["flops_reduction_layerwise"] - com_ratio,
            }
        )
    return pd.DataFrame(rows)
