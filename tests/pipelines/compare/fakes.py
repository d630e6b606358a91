"""A small MLflow store with fake but realistic runs: the experiment, parent/child layout, flattened parameters
and metric keys exactly as the pipelines log them (read off smoke runs of dcff, collab_compression, recu,
pss_net, ssda_dual_mix and mtda_collab)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

T0 = 1_800_000_000_000  # ms; runs start one minute apart after it


def _data(package: str, **kw: Any) -> dict[str, str]:
    base = {
        "source": "embedded",
        "root": f"data/01_raw/{package}",
        "family": "shapes",
        "image_size": 16,
        "n_train": 2000,
        "n_test": 2000,
        "n_classes": 10,
        "noise": 0.08,
        "rotate": False,
        "train_seed": 1,
        "test_seed": 2,
        "workers": 0,
    }
    return {f"{package}.data.{k}": str(v) for k, v in {**base, **kw}.items()}


def dcff_params(seed: int = 0, **data: Any) -> dict[str, str]:
    return {
        "dcff.seed": str(seed),
        "dcff.device": "auto",
        "dcff.cpu_threads": "1",
        "dcff.train.epochs": "10",
        "dcff.model.cprate": "[0.5]*6",
        **_data("dcff", **data),
    }


def dcff_metrics(compact: float, l1: float, scratch: float | None = 74.3) -> dict[str, float]:
    out = {
        "evaluate_compact/top1": compact + 1,
        "evaluate_compact/top1_last": compact,
        "export_compact/compact_flops": 659936.0,
        "plan_architecture/full_flops": 2499520.0,
        "train_baseline_l1/top1": l1 + 1,
        "train_baseline_l1/top1_last": l1,
        "train_full_reference/enabled": 0.0,
        "claim/holds": 0.0,
        "claim/top1_gain_vs_l1": compact - l1,
    }
    if scratch is None:
        out["train_baseline_scratch/enabled"] = 0.0
    else:
        out |= {"train_baseline_scratch/enabled": 1.0, "train_baseline_scratch/top1_last": scratch}
    return out


def collab_params(seed: int = 0) -> dict[str, str]:
    return {"collab_compression.seed": str(seed), **_data("collab_compression", n_train=3000)}


COLLAB_METRICS = {
    "cc.finetune/top1_last": 88.0,
    "cc.compress/flops": 1659786.0,
    "prune_only.finetune/top1_last": 86.0,
    "prune_only.compress/flops": 1232138.0,
    "td_only.finetune/top1_last": 80.0,
    "td_only.compress/flops": 1677450.0,
    "pretrain/top1_last": 90.0,
    "pretrain/flops": 2470538.0,
    "claim/holds": 1.0,
}


def recu_params(seed: int = 0) -> dict[str, str]:
    return {
        "recu.seed": str(seed),
        **_data("recu", family="color_patches", image_size=32, n_train=4000, noise=None, rotate=None),
    }


RECU_METRICS = {
    "train_recu/top1_last": 89.1,
    "train_bnn/top1_last": 88.8,
    "train_ws_only/enabled": 0.0,
    "train_fp/enabled": 0.0,
    "plan_model/arch/binary_macs": 2949120.0,
    "plan_model/arch/fp_macs": 111232.0,
    "plan_model/arch/macs": 3060352.0,
}


def pss_params(seed: int = 0) -> dict[str, str]:
    return {
        "pss_net.seed": str(seed),
        **_data("pss_net", family="gratings", image_size=32, n_train=4000, noise=None, rotate=None),
    }


PSS_SUBNETS = pd.DataFrame(
    {
        "arm": ["pss"] * 4,
        "kind": ["max", "min", "retained", "retained"],
        "target": [None, None, 2.0, 3.0],
        "rank": [0] * 4,
        "mflops": [4.601088, 0.77824, 2.034964, 3.402432],
        "top1": [60.0, 40.0, 55.0, 58.5],
    }
)
USNET_SUBNETS = pd.DataFrame(
    {
        "arm": ["usnet"] * 3,
        "kind": ["max", "uniform", "uniform"],
        "target": [None, 2.0, 3.0],
        "rank": [0] * 3,
        "mflops": [4.601088, 1.948152, 2.991848],
        "top1": [59.0, 53.0, 57.0],
    }
)


def da_params(package: str, seed: int = 0, **target: str) -> dict[str, str]:
    bench = {
        "da_benchmark.root": "data/01_raw/da_benchmark",
        "da_benchmark.base_seed": "0",
        "da_benchmark.height": "64",
        "da_benchmark.width": "128",
        "da_benchmark.counts.city.val": "100",
        "da_benchmark.counts.fog.val": "100",
    }
    return {f"{package}.seed": str(seed), **bench, **{f"{package}.data.{k}": v for k, v in target.items()}}


SSDA_METRICS = {
    "report/student_miou": 41.0,
    "train_source_only/enabled": 1.0,
    "train_source_only/val_miou": 30.0,
}
MTDA_METRICS = {
    "report/student_ccl/city/val_miou": 40.0,
    "report/student_ccl/fog/val_miou": 35.0,
    "report/source_only/city/val_miou": 31.0,
    "report/source_only/fog/val_miou": 27.0,
}


@dataclass
class FakeRun:
    pipeline: str
    params: dict[str, str]
    metrics: dict[str, float]
    minute: int  # start time = T0 + minute
    status: str = "FINISHED"
    env: str = "local"
    tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)  # node → {artifact: table}


def default_runs() -> list[FakeRun]:
    """dcff: two seeds of one setting, a newer failed run and a still-running one; the others one run each;
    msda_collab never ran (no experiment)."""
    return [
        FakeRun("dcff", dcff_params(0), dcff_metrics(75.0, 74.0), 0),
        FakeRun("dcff", dcff_params(1), dcff_metrics(77.0, 72.0), 1),
        FakeRun("dcff", dcff_params(2), {"evaluate_compact/top1_last": 10.0}, 5, status="FAILED"),
        FakeRun("dcff", dcff_params(3), {}, 6, status="RUNNING"),
        FakeRun("collab_compression", collab_params(), COLLAB_METRICS, 2),
        FakeRun("recu", recu_params(), RECU_METRICS, 3),
        FakeRun(
            "pss_net",
            pss_params(),
            {"evaluate_pss/mean_top1": 56.75},
            4,
            tables={
                "evaluate_pss": {"tables/pss_subnets.csv": PSS_SUBNETS},
                "evaluate_usnet": {"tables/usnet_subnets.csv": USNET_SUBNETS},
            },
        ),
        FakeRun("ssda_dual_mix", da_params("ssda_dual_mix", target_style="city"), SSDA_METRICS, 7),
        FakeRun("mtda_collab", da_params("mtda_collab", target_styles="['city', 'fog']"), MTDA_METRICS, 8),
    ]


def build_store(root: Path, runs: list[FakeRun]) -> str:
    """Write ``runs`` into ``root/mlflow.db`` (artifacts under ``root/mlruns``) as kedro + our hooks would."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiments: dict[str, str] = {}
    for run in runs:
        if run.pipeline not in experiments:
            experiments[run.pipeline] = client.create_experiment(
                run.pipeline, artifact_location=str(root / "mlruns" / run.pipeline)
            )
        start = T0 + 60_000 * run.minute
        parent = client.create_run(
            experiments[run.pipeline],
            start_time=start,
            run_name=run.pipeline,
            tags={"pipeline": run.pipeline, "kedro_env": run.env},
        )
        pid = parent.info.run_id
        client.log_batch(
            pid,
            params=[Param(k, v) for k, v in run.params.items()],
            metrics=[Metric(k, v, start, 0) for k, v in run.metrics.items()],
            synchronous=True,
        )
        for node, artifacts in run.tables.items():
            child = client.create_run(
                experiments[run.pipeline],
                start_time=start,
                run_name=node,
                tags={"mlflow.parentRunId": pid, "kedro_node": node},
            )
            for path, table in artifacts.items():
                folder, name = path.rsplit("/", 1)
                buffer = io.StringIO()
                table.to_csv(buffer, index=False)
                client.log_text(child.info.run_id, buffer.getvalue(), f"{folder}/{name}")
            client.set_terminated(child.info.run_id, "FINISHED")
        if run.status != "RUNNING":
            client.set_terminated(pid, run.status, end_time=start + 30_000)
    return uri
