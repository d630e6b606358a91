"""MI-AOD as a DAG (spec §3.8, §7): data → X_L0 → for each cycle c, for each arm: a fresh detector trained
on X_L (+ X_U), evaluated on the test set → the next X_L by the arm's selection → comparison and claims.
Every node after ``prepare_data`` reads the data as the manifest plus the ``pool``/``test`` arrays (images in
memory for the embedded benchmark, on disk for real VOC: see ``nodes.py``).

Cycles are unrolled (namespace ``cycle_<c>`` in kedro-viz); their number is fixed per registered
pipeline because Kedro builds the DAG before it reads parameters.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.mi_aod import nodes

P = "params:mi_aod"


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def _plan(D: str, arm: str, c: int) -> str:
    return f"{D}.labelled_c0_plan" if c == 0 else f"{D}.{arm}_labelled_c{c}_plan"


def _cycle(D: str, arm: str, c: int, cycles: int) -> list:
    ckpt, metrics = f"{D}.{arm}_c{c}_checkpoint", f"{D}.{arm}_c{c}_metrics"
    data = {"manifest": f"{D}.manifest", "pool": f"{D}.pool_arrays", "plan": _plan(D, arm, c), "params": P}
    run = {"pipeline": D, "arm": arm, "cycle": c}  # D names the checkpoint folder of the registered pipeline
    out = [node(_bind(nodes.train_and_evaluate, **run),
                {**data, "test": f"{D}.test_arrays", "pretrained": f"{D}.pretrained_backbone_checkpoint"},
                [ckpt, metrics, f"{D}.{arm}_c{c}_detections_plot"], name=f"train_{arm}", namespace=f"cycle_{c}")]
    if c == cycles - 1:  # no selection after the last cycle
        return out
    selection = f"{D}.{arm}_select_c{c}_metrics"
    if nodes.ARM_SELECTION[arm] == "uncertainty":
        out.append(node(_bind(nodes.select_by_uncertainty, **run), {**data, "checkpoint": ckpt},
                        [_plan(D, arm, c + 1), selection, f"{D}.{arm}_c{c}_uncertainty_plot",
                         f"{D}.{arm}_c{c}_selected_plot"], name=f"select_{arm}", namespace=f"cycle_{c}"))
    else:
        out.append(node(_bind(nodes.select_at_random, **run), data, [_plan(D, arm, c + 1), selection],
                        name=f"select_{arm}", namespace=f"cycle_{c}"))
    return out


def create_pipeline(name: str = "mi_aod", cycles: int = 5, ablation: bool = False) -> Pipeline:
    D = name  # datasets are named after the registered pipeline
    arms = ("miaod", "random", "miaod_trainonly") if ablation else ("miaod", "random")
    data = [
        node(_bind(nodes.prepare_data, pipeline=D), P,
             [f"{D}.manifest", f"{D}.pool_arrays", f"{D}.test_arrays", f"{D}.data_metrics", f"{D}.pool_samples_plot"],
             name="prepare_data"),
        node(_bind(nodes.pretrain_backbone, pipeline=D), [f"{D}.manifest", f"{D}.pool_arrays", f"{D}.test_arrays", P],
             [f"{D}.pretrained_backbone_checkpoint", f"{D}.pretrain_metrics"], name="pretrain_backbone"),
        node(_bind(nodes.make_initial_split, cycles=cycles), [f"{D}.manifest", f"{D}.pool_arrays", P],
             [f"{D}.labelled_c0_plan", f"{D}.split_metrics"], name="make_initial_split"),
    ]
    loop = [n for c in range(cycles) for arm in arms for n in _cycle(D, arm, c, cycles)]
    results = {f"{arm}_c{c}": f"{D}.{arm}_c{c}_metrics" for arm in arms for c in range(cycles)}
    results.update({f"{arm}_select_c{c}": f"{D}.{arm}_select_c{c}_metrics" for arm in arms for c in range(cycles - 1)})
    report = [node(_bind(nodes.compare_arms, arms=arms, cycles=cycles), {"params": P, **results},
                   [f"{D}.comparison_table", f"{D}.per_class_ap_table", f"{D}.map_curve_plot", f"{D}.claims_metrics"],
                   name="compare_arms")]
    return pipeline(data + loop + report, tags=D)
