"""Schema of ``parameters_compare.yml``: which store, which runs, and where each paper logs the numbers drawn.

The point sources name the metric keys exactly as the pipelines log them on their parent run
(``<node>/<key>``, DESIGN.md "Tracking"), so a pipeline that renames a key is fixed here, in YAML, not in code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cvpapers.engine.config import StrictModel


class MetricPoint(StrictModel):
    """One point per run, read from the run's metrics."""

    pipeline: str  # the experiment (named after the registered pipeline)
    arm: str  # the legend's name of the model
    accuracy: str  # metric key: top-1 % on the benchmark's test set
    macs: str  # metric key: multiply-accumulates of one forward pass (full precision)
    bops: str | None = None  # metric key: binary (1-bit × 1-bit) MACs, converted with frontier.bops_per_mac
    enabled: str | None = None  # metric key that is 0 when the arm was switched off in that run
    macs_rule: str = ""  # the counter's mode the pipeline used (engine/flops.MODES), for the table


class TablePoints(StrictModel):
    """Several points per run (one per row), read from a table artifact of one node's child run."""

    pipeline: str
    arm: str
    node: str  # the child run (Kedro node name) holding the artifact
    artifact: str  # path inside that run's artifacts, e.g. tables/pss_subnets.csv
    where: dict[str, str] = {}  # keep the rows whose column equals the value (compared as text)
    accuracy: str = "top1"  # column
    macs: str = "mflops"  # column
    macs_scale: float = Field(1e6, gt=0)  # column × scale = MACs (pss_net's table holds millions)
    label: str | None = None  # column naming each point (the target), kept in the table
    macs_rule: str = ""


class FrontierParams(StrictModel):
    # MACs-equivalent = MACs + BOPs / bops_per_mac: a binary MAC costs 1/64 of a full-precision one on a 64-bit
    # word (XNOR + popcount), the rule of XNOR-Net, Bi-Real Net and ReCU's own OPs column.
    bops_per_mac: float = Field(64.0, gt=0)
    # Runs whose test set differs from the panel's are drawn in their own panel, or left out (listed, with why).
    other_benchmarks: Literal["panel", "skip"] = "panel"
    log_x: bool = True
    metric_points: list[MetricPoint] = [
        MetricPoint(
            pipeline="dcff",
            arm="DCFF compact",
            accuracy="evaluate_compact/top1_last",
            macs="export_compact/compact_flops",
            macs_rule="paper",
        ),
        MetricPoint(
            pipeline="dcff",
            arm="L1 prune + fine-tune",
            accuracy="train_baseline_l1/top1_last",
            macs="export_compact/compact_flops",
            macs_rule="paper",
        ),
        MetricPoint(
            pipeline="dcff",
            arm="compact from scratch",
            accuracy="train_baseline_scratch/top1_last",
            macs="export_compact/compact_flops",
            enabled="train_baseline_scratch/enabled",
            macs_rule="paper",
        ),
        MetricPoint(
            pipeline="dcff",
            arm="unpruned",
            accuracy="train_full_reference/top1_last",
            macs="plan_architecture/full_flops",
            enabled="train_full_reference/enabled",
            macs_rule="paper",
        ),
        MetricPoint(
            pipeline="collab_compression",
            arm="CC",
            accuracy="cc.finetune/top1_last",
            macs="cc.compress/flops",
            macs_rule="conv_linear_bias",
        ),
        MetricPoint(
            pipeline="collab_compression",
            arm="prune only",
            accuracy="prune_only.finetune/top1_last",
            macs="prune_only.compress/flops",
            macs_rule="conv_linear_bias",
        ),
        MetricPoint(
            pipeline="collab_compression",
            arm="decompose only",
            accuracy="td_only.finetune/top1_last",
            macs="td_only.compress/flops",
            macs_rule="conv_linear_bias",
        ),
        MetricPoint(
            pipeline="collab_compression",
            arm="pretrained",
            accuracy="pretrain/top1_last",
            macs="pretrain/flops",
            macs_rule="conv_linear_bias",
        ),
        MetricPoint(
            pipeline="recu",
            arm="ReCU",
            accuracy="train_recu/top1_last",
            macs="plan_model/arch/fp_macs",
            bops="plan_model/arch/binary_macs",
            macs_rule="conv_linear",
        ),
        MetricPoint(
            pipeline="recu",
            arm="BNN",
            accuracy="train_bnn/top1_last",
            macs="plan_model/arch/fp_macs",
            bops="plan_model/arch/binary_macs",
            macs_rule="conv_linear",
        ),
        MetricPoint(
            pipeline="recu",
            arm="standardise only",
            accuracy="train_ws_only/top1_last",
            macs="plan_model/arch/fp_macs",
            bops="plan_model/arch/binary_macs",
            enabled="train_ws_only/enabled",
            macs_rule="conv_linear",
        ),
        MetricPoint(
            pipeline="recu",
            arm="full precision",
            accuracy="train_fp/top1_last",
            macs="plan_model/arch/macs",
            enabled="train_fp/enabled",
            macs_rule="conv_linear",
        ),
    ]
    table_points: list[TablePoints] = [
        TablePoints(
            pipeline="pss_net",
            arm="PSS retained subnet",
            node="evaluate_pss",
            artifact="tables/pss_subnets.csv",
            where={"kind": "retained"},
            label="target",
            macs_rule="conv_linear_pool",
        ),
        TablePoints(
            pipeline="pss_net",
            arm="US-Net uniform width",
            node="evaluate_usnet",
            artifact="tables/usnet_subnets.csv",
            where={"kind": "uniform"},
            label="target",
            macs_rule="conv_linear_pool",
        ),
    ]


class DaBars(StrictModel):
    """One bar per run and target style: ``miou`` with ``{style}`` replaced by each style of ``targets``."""

    pipeline: str
    arm: str
    miou: str  # metric key, may hold {style}
    targets: str  # the parameter (flattened key) naming the target style, or a list of them
    enabled: str | None = None


class DaParams(StrictModel):
    benchmark_prefix: str = "da_benchmark."  # the parameters that define the shared street-scene benchmark
    ignore: list[str] = ["da_benchmark.root"]  # where the files go, not what they hold
    bars: list[DaBars] = [
        DaBars(
            pipeline="ssda_dual_mix",
            arm="DDM student",
            miou="report/student_miou",
            targets="ssda_dual_mix.data.target_style",
        ),
        DaBars(
            pipeline="ssda_dual_mix",
            arm="source only",
            miou="train_source_only/val_miou",
            targets="ssda_dual_mix.data.target_style",
            enabled="train_source_only/enabled",
        ),
        DaBars(
            pipeline="msda_collab",
            arm="MSCL ensemble",
            miou="train_mscl/ensemble/val_miou",
            targets="msda_collab.data.target_style",
        ),
        DaBars(
            pipeline="msda_collab",
            arm="source-only ensemble",
            miou="train_source_only/ensemble/val_miou",
            targets="msda_collab.data.target_style",
        ),
        DaBars(
            pipeline="mtda_collab",
            arm="CCL student",
            miou="report/student_ccl/{style}/val_miou",
            targets="mtda_collab.data.target_styles",
        ),
        DaBars(
            pipeline="mtda_collab",
            arm="source only",
            miou="report/source_only/{style}/val_miou",
            targets="mtda_collab.data.target_styles",
        ),
    ]


class CompareParams(StrictModel):
    # MLflow tracking URIs to read; empty = this project's store (conf/base/mlflow.yml, sqlite:///mlflow.db).
    stores: list[str] = []
    # latest: the newest finished run of each pipeline; all: every finished run, mean ± std over the runs that
    # share a setting (all parameters equal but the seed and the ignored ones).
    runs: Literal["latest", "all"] = "latest"
    kedro_env: str | None = None  # only runs of this environment (a plain `kedro run` is tagged "local")
    # Parameters that do not change what a run computes, left out when runs are grouped into settings.
    ignore_params: list[str] = [
        "seed",
        "device",
        "cpu_threads",
        "resume",
        "checkpoint_dir",
        "deterministic",
        "data.root",
        "data.workers",
        "cuda",
    ]
    frontier: FrontierParams = FrontierParams()
    da: DaParams = DaParams()
