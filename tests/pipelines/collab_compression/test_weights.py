"""§10: the paper's pretrained checkpoints' key layouts load into the project's builders (no download:
state dicts written in the source layout from freshly built models)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cvpapers.models.classification import build_classifier
from cvpapers.pipelines.collab_compression.weights import load_pretrained, map_pretrained_keys


def test_official_resnet56_checkpoint_with_its_linear_classifier_loads(tmp_path: Path) -> None:
    source = build_classifier("resnet56", 10)
    official = {("linear." + k[3:] if k.startswith("fc.") else k): v for k, v in source.state_dict().items()}
    torch.save({"state_dict": {f"module.{k}": v for k, v in official.items()}}, tmp_path / "resnet56.pth")
    model = build_classifier("resnet56", 10)
    load_pretrained(model, str(tmp_path / "resnet56.pth"))
    assert torch.equal(model.fc.weight, source.fc.weight)


@pytest.mark.parametrize("arch, factory", [("vgg16_imagenet", "vgg16"), ("resnet50", "resnet50")])
def test_torchvision_layouts_map_onto_the_builders(arch: str, factory: str) -> None:
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        tv = getattr(torchvision.models, factory)(weights=None).state_dict()
        ours = build_classifier(arch, 1000).state_dict()
    mapped = map_pretrained_keys(arch, tv)
    assert set(mapped) == set(ours)
    assert all(mapped[k].shape == ours[k].shape for k in ours)


def test_a_wrong_layout_is_refused(tmp_path: Path) -> None:
    torch.save(build_classifier("vgg_small", 10).state_dict(), tmp_path / "w.pt")
    with pytest.raises(ValueError, match="cannot load"):
        load_pretrained(build_classifier("resnet56", 10), str(tmp_path / "w.pt"))
