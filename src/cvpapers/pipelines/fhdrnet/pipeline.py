"""FHDRNet as a DAG (spec §7): scenes → inputs → classical merges ∥ AHDRNet ∥ FHDRNet w/o HF ∥ FHDRNet
→ their validation curves (plot, plateau) and evaluation on the test scenes → claims. The same nodes serve RGB (`fhdrnet`) and Bayer RAW (`fhdrnet_raw`),
the embedded benchmark (scene arrays between nodes) and real data (the `manifest` between nodes)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.fhdrnet import nodes

P = "params:fhdrnet"


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "fhdrnet", domain: str = "rgb") -> Pipeline:
    d = name  # datasets are named after the registered pipeline
    sets = {s: f"{d}.{s}_set_arrays" for s in ("train", "val", "test")}
    data = [
        node(_bind(nodes.prepare_data, domain=domain), P,
             [f"{d}.train_scenes_arrays", f"{d}.val_scenes_arrays", f"{d}.test_scenes_arrays", f"{d}.manifest",
              f"{d}.data_metrics", f"{d}.scenes_montage_plot"], name="prepare_data"),
        node(_bind(nodes.build_inputs, domain=domain),
             {"train": f"{d}.train_scenes_arrays", "val": f"{d}.val_scenes_arrays",
              "test": f"{d}.test_scenes_arrays", "params": P},
             [sets["train"], sets["val"], sets["test"], f"{d}.inputs_metrics"], name="build_inputs"),
        node(_bind(nodes.eval_classical, domain=domain),
             {"test": f"{d}.test_scenes_arrays", "manifest": f"{d}.manifest", "params": P},
             f"{d}.classical_metrics", name="eval_classical"),
    ]
    train_inputs = {"train": sets["train"], "val": sets["val"], "manifest": f"{d}.manifest", "params": P}
    training = [
        node(_bind(func, pipeline=name, domain=domain), train_inputs,
             [f"{d}.{net}_checkpoint", f"{d}.{net}_metrics", f"{d}.{net}_curve_log"], name=f"train_{net}")
        for func, net in ((nodes.train_ahdrnet, "ahdrnet"), (nodes.train_fhdrnet_nohf, "fhdrnet_nohf"),
                          (nodes.train_fhdrnet, "fhdrnet"))
    ]
    training.append(node(nodes.plot_curves, [f"{d}.{net}_curve_log" for net in ("ahdrnet", "fhdrnet_nohf", "fhdrnet")],
                         [f"{d}.validation_curves_plot", f"{d}.curves_metrics"], name="plot_curves"))
    report = [
        node(_bind(nodes.evaluate_hdr, pipeline=name, domain=domain),
             {"ahdrnet": f"{d}.ahdrnet_checkpoint", "nohf": f"{d}.fhdrnet_nohf_checkpoint",
              "fhdrnet": f"{d}.fhdrnet_checkpoint", "test": sets["test"], "test_scenes": f"{d}.test_scenes_arrays",
              "manifest": f"{d}.manifest", "classical": f"{d}.classical_metrics", "params": P},
             [f"{d}.results_table", f"{d}.samples_plot", f"{d}.test_metrics"], name="evaluate_hdr"),
        node(nodes.check_claims, [f"{d}.results_table", f"{d}.test_metrics"], f"{d}.claims_metrics",
             name="check_claims"),
    ]
    return pipeline(data + training + report, tags=d)
