"""The DA segmenter: input normalisation, a checkpoint that rebuilds its model, evaluation on uint8 arrays."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cvpapers.da import segmenter as S


def test_caffe_normalisation_flips_to_bgr_and_subtracts_the_imagenet_mean() -> None:
    x = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    x[:, 0] = 255  # pure red
    out = S.normaliser("caffe")(x)
    assert out[0, 2, 0, 0].item() == pytest.approx(255 - 122.67891434, rel=1e-5)  # red is the last channel
    assert out[0, 0, 0, 0].item() == pytest.approx(-104.00698793, rel=1e-5)
    assert S.normaliser("embedded")(x)[0, 0, 0, 0].item() == pytest.approx((1 - 0.5) / 0.25)


def test_nchw_is_the_channel_first_view_of_channel_last_images() -> None:
    images = np.random.default_rng(0).integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    x = S.nchw(images)
    assert x.shape == (2, 3, 4, 6) and x.dtype == torch.uint8
    assert torch.equal(x[1, 2], torch.from_numpy(images[1, :, :, 2]))


TINY = SimpleNamespace(name="tiny_deeplabv2", widths=[4, 8, 8, 8], rates=[1, 2], aux=True, weights_path=None)


def test_a_checkpoint_names_its_builder_and_rebuilds_the_same_model() -> None:
    config = S.segmenter_config(TINY, 5)
    assert config == {"name": "tiny_deeplabv2", "num_classes": 5, "widths": [4, 8, 8, 8], "rates": [1, 2], "aux": True}
    torch.manual_seed(0)
    model = S.build_da_segmenter(**config).eval()
    ckpt = S.segmenter_checkpoint(model, config)
    assert ckpt["builder"] == "cvpapers.da.segmenter:build_da_segmenter"
    rebuilt = S.load_segmenter(ckpt, torch.device("cpu")).eval()
    x = torch.randn(2, 3, 16, 32)
    assert torch.equal(model(x), rebuilt(x))


def test_a_deeplab_config_keeps_its_weights_file_but_loading_never_reads_it_again() -> None:
    r101 = SimpleNamespace(name="deeplabv2_r101", widths=[], rates=[], aux=True, weights_path="/nowhere/r101.pth")
    assert S.segmenter_config(r101, 19) == {"name": "deeplabv2_r101", "num_classes": 19, "multi_level": True,
                                            "weights_path": "/nowhere/r101.pth"}


def test_evaluating_a_perfect_predictor_on_arrays_gives_full_miou() -> None:
    class Oracle(torch.nn.Module):
        """Class = red channel > 0.5 after normalisation: 2 classes read off the image."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            on = (x[:, :1] > 0).float()
            return torch.cat([1 - on, on], 1)

    labels = np.random.default_rng(1).integers(0, 2, (3, 8, 8), dtype=np.uint8)
    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    images[..., 0] = labels * 255
    res = S.evaluate_arrays(Oracle(), images, labels, 2, "embedded", torch.device("cpu"), batch_size=2)
    assert res["miou"] == pytest.approx(100.0)
    conf, pred = S.predict_arrays(Oracle(), images, "embedded", torch.device("cpu"), batch_size=2)
    assert torch.equal(pred, torch.from_numpy(labels)) and conf.shape == (3, 8, 8)
