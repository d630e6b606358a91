"""The paper's claim as metrics, and the result tables.

Spec §8: at equal training budget, PSS-Net's *retained* subnets (the top-scored entry of each target's pool)
reach a higher mean test top-1 over the common FLOPs targets than the US-Net-style supernet's uniform-width
subnets (``claim/mean_top1_gain_vs_usnet``); secondary, within the PSS supernet, the retained subnet beats
random subnets of the same target (``claim/top1_gain_retained_vs_random``). ``claim/<what>`` is always
method − baseline. ``claim/holds`` comes from :func:`claim_holds`, the one rule (the README states it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cvpapers.pipelines.pss_net.training import target_name


def claim_holds(
    mean_top1_gain_vs_usnet: float, pss_max_top1: float, usnet_max_top1: float, gate: float
) -> bool:
    """PSS's retained subnets beat US-Net's on the mean over common targets (gain > 0), and both arms' max
    nets learned the data (top-1 ≥ ``report.max_net_gate``), so a gap between untrained supernets never holds."""
    gate_passed = min(pss_max_top1, usnet_max_top1) >= gate
    return bool(gate_passed and mean_top1_gain_vs_usnet > 0)


def _single(table: pd.DataFrame, kind: str) -> float:
    return float(table.loc[table["kind"] == kind, "top1"].iloc[0])


def per_target(table: pd.DataFrame, kind: str) -> pd.Series:
    """top-1 per target of the rows of ``kind`` (``retained``, ``uniform``; ``random``: the mean)."""
    rows = table[table["kind"] == kind]
    return rows.groupby("target")["top1"].mean()


def arm_eval_metrics(table: pd.DataFrame, kind: str) -> dict[str, float]:
    """An arm's evaluation node metrics: top-1 per target, max/min net, mean over its targets."""
    tops = per_target(table, kind)
    metrics = {f"top1_t{target_name(t)}": float(v) for t, v in tops.items()}
    metrics.update(
        top1_max=_single(table, "max"),
        top1_min=_single(table, "min"),
        mean_top1=float(tops.mean()) if len(tops) else float("nan"),
        n_targets=float(len(tops)),
    )
    if kind == "retained":
        random = per_target(table, "random")
        metrics["random_mean_top1"] = float(random.mean()) if len(random) else float("nan")
        best = table[table["kind"].isin(["retained", "pool"])].groupby("target")["top1"].max()
        metrics.update({f"best_of_topk_t{target_name(t)}": float(v) for t, v in best.items()})
    return metrics


def claim_metrics(pss: pd.DataFrame, usnet: pd.DataFrame, gate: float) -> dict[str, float]:
    """Run-level claims and comparisons over the targets both arms reach, plus the report's own numbers."""
    retained, uniform, random = (
        per_target(pss, "retained"),
        per_target(usnet, "uniform"),
        per_target(pss, "random"),
    )
    common = sorted(set(retained.index) & set(uniform.index))
    gap = retained[common] - uniform[common]
    best = pss[pss["kind"].isin(["retained", "pool"])].groupby("target")["top1"].max()
    both = sorted(set(retained.index) & set(random.index))
    pss_max, usnet_max = _single(pss, "max"), _single(usnet, "max")
    metrics = {
        "claim/mean_top1_gain_vs_usnet": float(gap.mean()) if common else float("nan"),
        "claim/top1_gain_retained_vs_random": float((retained[both] - random[both]).mean())
        if both
        else float("nan"),
        "compare/n_targets_pss_wins": float((gap > 0).sum()),
        "compare/top1_gap_max_net": pss_max - usnet_max,
        "compare/top1_gap_min_net": _single(pss, "min") - _single(usnet, "min"),
        # The official log's selection: the best of the top-k pool entries on the test split (§3.9).
        "compare/best_of_topk_gain_vs_usnet": float((best[common] - uniform[common]).mean())
        if common
        else float("nan"),
        "n_common_targets": float(len(common)),
        "max_net_gate_passed": float(min(pss_max, usnet_max) >= gate),
    }
    metrics["claim/holds"] = float(
        claim_holds(metrics["claim/mean_top1_gain_vs_usnet"], pss_max, usnet_max, gate)
    )
    return metrics


def results_table(
    pss: pd.DataFrame, usnet: pd.DataFrame, pss_train: dict[str, float], usnet_train: dict[str, float]
) -> pd.DataFrame:
    """One row per arm: mean top-1 over the common targets first (``benchmarks/seeds.py`` reads that column)."""
    retained, uniform, random = (
        per_target(pss, "retained"),
        per_target(usnet, "uniform"),
        per_target(pss, "random"),
    )
    common = sorted(set(retained.index) & set(uniform.index) & set(random.index))

    def row(method: str, tops: pd.Series, table: pd.DataFrame, train: dict[str, float]) -> dict[str, object]:
        return {
            "method": method,
            "mean_top1_common_targets": round(float(tops[common].mean()), 2),
            "top1_max_net": round(_single(table, "max"), 2),
            "top1_min_net": round(_single(table, "min"), 2),
            "n_common_targets": len(common),
            "train_time_s": round(float(train["train_time_s"]), 1),
        }

    return pd.DataFrame(
        [
            row("PSS-Net (retained)", retained, pss, pss_train),
            row("US-Net (uniform width)", uniform, usnet, usnet_train),
            row("random subnets (PSS supernet)", random, pss, pss_train),
        ]
    )


def per_target_table(pss: pd.DataFrame, usnet: pd.DataFrame) -> pd.DataFrame:
    """One row per (target, arm): the evaluated subnet, its MFLOPs, score and top-1; random: the mean."""
    keep = ["target", "arm", "cfg", "widths", "mflops", "score", "top1"]
    retained = pss[pss["kind"] == "retained"][keep].assign(arm="pss_retained")
    uniform = usnet[usnet["kind"] == "uniform"][keep].assign(arm="usnet_uniform")
    rnd = pss[pss["kind"] == "random"].groupby("target").agg(mflops=("mflops", "mean"), top1=("top1", "mean"))
    rnd = rnd.reset_index().assign(arm="pss_random_mean", cfg="", widths="", score=np.nan)[keep]
    out = pd.concat([retained, uniform, rnd], ignore_index=True).sort_values(["target", "arm"], kind="stable")
    return out.reset_index(drop=True).round({"mflops": 4, "score": 4, "top1": 2})
