"""Two runs share a benchmark exactly when they measured on the same test images."""

from __future__ import annotations

from cvpapers.pipelines.compare.benchmarks import classification_benchmark, da_benchmark
from tests.pipelines.compare.fakes import collab_params, da_params, dcff_params, recu_params


def _id(params: dict, package: str) -> str:
    return classification_benchmark(params, package)[0]


def test_training_data_and_paths_do_not_change_the_benchmark() -> None:
    # collab_compression trains on 3000 images, dcff on 2000, from other folders: the same 2000 test images.
    assert _id(dcff_params(), "dcff") == _id(collab_params(), "collab_compression")
    assert _id(dcff_params(train_seed=7), "dcff") == _id(dcff_params(seed=4), "dcff")


def test_test_set_settings_change_the_benchmark() -> None:
    reference = _id(dcff_params(), "dcff")
    for change in (
        {"test_seed": 3},
        {"image_size": 32},
        {"noise": 0.12},
        {"n_test": 500},
        {"rotate": True},
        {"family": "shapes10"},
    ):
        assert _id(dcff_params(**change), "dcff") != reference, change


def test_null_noise_is_the_family_preset() -> None:
    # recu logs noise None (= color_patches' preset 0.5): the same images as an explicit 0.5
    explicit = {**recu_params(), "recu.data.noise": "0.5"}
    assert _id(recu_params(), "recu") == _id(explicit, "recu")
    assert "noise 0.5" in classification_benchmark(recu_params(), "recu")[1]


def test_a_run_logged_before_the_family_key_is_the_shapes_family() -> None:
    old = {k: v for k, v in dcff_params().items() if k != "dcff.data.family"}
    assert _id(old, "dcff") == _id(dcff_params(), "dcff")


def test_real_datasets_are_identified_by_source_and_root() -> None:
    cifar = {**dcff_params(), "dcff.data.source": "cifar10", "dcff.data.root": "/data/cifar"}
    bench_id, text, identity = classification_benchmark(cifar, "dcff")
    assert identity["source"] == "cifar10" and text == "cifar10 at /data/cifar"
    assert bench_id != _id({**cifar, "dcff.data.root": "/other"}, "dcff")


def test_da_benchmark_ignores_the_root_only() -> None:
    a = da_params("ssda_dual_mix", target_style="city")
    b = {**da_params("mtda_collab", target_styles="['city', 'fog']"), "da_benchmark.root": "elsewhere"}
    ignore = ["da_benchmark.root"]
    assert da_benchmark(a, "da_benchmark.", ignore)[0] == da_benchmark(b, "da_benchmark.", ignore)[0]
    c = {**a, "da_benchmark.height": "32"}
    assert da_benchmark(c, "da_benchmark.", ignore)[0] != da_benchmark(a, "da_benchmark.", ignore)[0]
