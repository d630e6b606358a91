"""Training-step speed of every pipeline's paper-size model (issue 12, deliverable 5).

One *step* is what the training loops run per labelled batch: forward, the project's own loss for that
pipeline, backward and the optimiser step, on a batch that is already on the device (no data loading).
Each model is timed as the median of ``--steps`` steps after ``--warmup`` warm-up steps, in fp32 and (CUDA
only, unless asked for on CPU) bf16 autocast. Reported per row: img/s, peak memory (CUDA
``max_memory_allocated`` over the timed steps; on CPU the growth of the process's peak RSS, often 0 once an
earlier model has grown it) and achieved TFLOP/s, with the FLOPs of one step (forward + backward) counted by
``torch.utils.flop_counter.FlopCounterMode``.

Models are built through the project's own builders:

* ``dcff_compact``  — DCFF's compact VGG-16 (paper rates), ``models.classification.build_classifier``
* ``dcff_fused``    — DCFF's fused training model, ``pipelines.dcff.fusion.build_fused_classifier``
  (both: CIFAR 32², batch 256, ``engine.steps.classification_step``'s cross-entropy, SGD)
* ``deeplabv2_r101`` — DDM's DeepLab-v2 R101 (``da.segmenter.build_da_segmenter``), b2 512×1024,
  ``da.batches.supervised_step`` (CE + 0.1·aux CE), SGD
* ``fhdrnet_bn`` / ``ahdrnet`` — ``pipelines.fhdrnet.networks.build_hdr_model`` with the paper sizes
  (``network_config``), b8 256², ``loss.mu_sobel_loss``, Adam
* ``fhdrnet_official`` — the same FHDRNet with the official code's wavelet layers (banded-matrix products
  rebuilt every call, ``benchmarks/official_dwt.py``): the official model's step on the same input
* ``retinanet_miaod`` — RetinaNet R50-FPN + MI-AOD heads (``mi_aod.heads.build_miaod_detector``), b2 608²,
  the label-set step of ``mi_aod.training.make_step`` (L_det + image-level MIL loss), SGD
* ``recu_resnet18_1w1a`` — ReCU's CIFAR ResNet-18 with binarised convs (``pipelines.recu.models.build_recu_net``),
  b256 32², ``engine.steps.classification_step``'s cross-entropy, SGD
* ``pss_mbv1_supernet`` — PSS-Net's slimmable MobileNetV1 (``pipelines.pss_net.slimmable.build_supernet``),
  b256 224², the sandwich step of ``pss_net.training.sandwich_step`` (max CE + middle and min KL), SGD

* ``cc_resnet56_compressed`` — Collaborative Compression's fine-tuning step of a compressed ResNet-56
  (``pipelines.collab_compression.method.export``: gathers, k×k + 1×1 convs, slimmed producers), b128 32², SGD
* ``uformer_b`` — Uformer-B (``pipelines.uformer.networks.Uformer``), b32 128² SIDD patches, Charbonnier, AdamW

``--sizes smoke`` swaps in the embedded configs' CPU-sized models and tiny inputs/batches so every model runs
on two CPU cores in a few seconds (the CI smoke test, ``tests/benchmarks/test_step_speed.py``).

    .venv/bin/python benchmarks/step_speed.py                         # paper sizes, auto device
    .venv/bin/python benchmarks/step_speed.py --sizes smoke --device cpu --steps 2 --warmup 1
    .venv/bin/python benchmarks/step_speed.py --device cuda --precision fp32 bf16 --models deeplabv2_r101

Writes ``data/08_reporting/step_speed.{csv,md}`` (``--out-dir``) and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "bf16")


@dataclass
class Case:
    """One benchmark model: the network, a device batch, the loss of one step and the optimiser."""

    label: str
    model: nn.Module
    batch: Any
    loss: Callable[[nn.Module, Any], Tensor]
    optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer]
    images: int        # images per step (img/s numerator)
    shape: str         # human-readable batch description


def _sgd(lr: float, wd: float) -> Callable[[list[nn.Parameter]], torch.optim.Optimizer]:
    from cvpapers.engine.optim import build_optimizer

    return lambda params: build_optimizer(params, "sgd", lr=lr, momentum=0.9, weight_decay=wd)


def _adam(lr: float) -> Callable[[list[nn.Parameter]], torch.optim.Optimizer]:
    from cvpapers.engine.optim import build_optimizer

    return lambda params: build_optimizer(params, "adam", lr=lr)


# ------------------------------------------------------------------------------------------------ models
def _dcff(fused: bool, smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.engine.steps import classification_step
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.fusion import build_fused_classifier
    from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates

    # smoke: the embedded config's vgg_small at its default cprate; paper: VGG-16 at the paper's rates
    arch, cprate, batch, side = ("vgg_small", "[0.5]*6", 4, 32) if smoke else ("vgg16", PAPER_RATES["vgg16"], 256, 32)
    rates = expand_layer_rates(arch, cprate)
    model = build_fused_classifier(arch, 10, rates) if fused else build_classifier(arch, 10, rates)
    x = torch.randn(batch, 3, side, side, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    return Case(f"DCFF {'fused' if fused else 'compact'} {arch}", model, (x, y),
                lambda m, b: classification_step(m, b)[0], _sgd(0.1, 5e-4), batch, f"b{batch} {side}²")


def _deeplab(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.da.batches import supervised_step
    from cvpapers.da.segmenter import build_da_segmenter

    if smoke:  # the embedded DA benchmark's TinyDeepLabV2
        model = build_da_segmenter("tiny_deeplabv2", 8)
        classes, batch, (h, w) = 8, 2, (32, 64)
    else:
        model = build_da_segmenter("deeplabv2_r101", 19, multi_level=True)
        classes, batch, (h, w) = 19, 2, (512, 1024)
    x = torch.randn(batch, 3, h, w, generator=g).to(device)
    y = torch.randint(0, classes, (batch, h, w), generator=g)
    y[torch.rand(batch, h, w, generator=g) < 0.1] = 255  # some ignored pixels, as real label maps have
    step = supervised_step(lambda_aux=0.1)
    return Case(f"DeepLab-v2 {'tiny' if smoke else 'R101'} (DDM)", model, (x, y.to(device)),
                lambda m, b: step(m, b)[0], _sgd(2.5e-4, 5e-4), batch, f"b{batch} {h}×{w}")


def _hdr(name: str, smoke: bool, device: torch.device, g: torch.Generator, official: bool = False) -> Case:
    from cvpapers.pipelines.fhdrnet.loss import mu_sobel_loss
    from cvpapers.pipelines.fhdrnet.networks import build_hdr_model, network_config

    if smoke:  # conf/base/parameters_fhdrnet.yml (BN on, as the paper's model)
        fh, ah, batch, side = {"nf": 16, "n_res_blocks": 3, "use_bn": True}, \
            {"nfeat": 16, "n_dense_layers": 3, "growth": 8, "n_drdb": 3}, 2, 32
    else:  # conf/paper/parameters_fhdrnet.yml
        fh, ah, batch, side = {"nf": 64, "n_res_blocks": 9, "use_bn": True}, \
            {"nfeat": 64, "n_dense_layers": 6, "growth": 32, "n_drdb": 3}, 8, 256
    model = build_hdr_model(**network_config(name, "rgb", fh, ah))  # type: ignore[arg-type]
    if official:  # the same network with the official code's matrix-product wavelet layers
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from official_dwt import officialise

        model = officialise(model)
    frames = tuple(torch.rand(batch, 6, side, side, generator=g).to(device) for _ in range(3))
    target = torch.rand(batch, 3, side, side, generator=g).to(device)

    def loss(m: nn.Module, b: Any) -> Tensor:  # as fhdrnet.training: the loss on the float32 prediction
        (x1, x2, x3), t = b
        return mu_sobel_loss(m(x1, x2, x3).float(), t, 5000.0, 0.25)[0]

    label = ("FHDRNet (BN)" if name == "fhdrnet" else "AHDRNet") + (", official matrix DWT" if official else "")
    return Case(label, model, (frames, target), loss, _adam(2e-4), batch, f"b{batch} {side}²")


def _miaod(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector
    from cvpapers.pipelines.mi_aod.training import ROLES, Stage, make_step

    if smoke:  # the embedded config's TinyRetina detector
        classes, batch, side = 4, 2, 64
        model = build_miaod_detector("tiny", classes, fpn_channels=32, tower_depth=1)
    else:  # conf/paper/parameters_mi_aod.yml, without the ImageNet weights file
        classes, batch, side = 20, 2, 608
        model = build_miaod_detector("resnet50_fpn", classes, fpn_channels=256, tower_depth=4, anchor_sizes=None,
                                     norm="bn")
    n_obj = 3
    xy = torch.rand(batch, n_obj, 2, generator=g) * side * 0.6
    wh = 8 + torch.rand(batch, n_obj, 2, generator=g) * side * 0.35
    boxes = torch.cat([xy, (xy + wh).clamp(max=side - 1)], -1)
    labels = torch.randint(0, classes, (batch, n_obj), generator=g)
    images = torch.rand(batch, 3, side, side, generator=g)
    stage = Stage("A_label", "label", 1, trainable=ROLES, labelled=("det", "imgcls"))
    step = make_step(model, stage, classes, 0.5, 0.5, "code", "batch")
    data = {"images": images.to(device), "boxes": boxes.to(device), "labels": labels.to(device), "unlabelled": False}
    return Case(f"RetinaNet {'tiny' if smoke else 'R50-FPN'} + MI-AOD heads", model, data,
                lambda m, b: step(m, b)[0], _sgd(1e-3, 5e-4), batch, f"b{batch} {side}²")


def _recu(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.engine.steps import classification_step
    from cvpapers.pipelines.recu.models import build_recu_net

    # smoke: the embedded benchmark's resnet_bireal_tiny; paper: ReCU's CIFAR ResNet-18 1w1a (conf/paper)
    arch, batch = ("resnet_bireal_tiny", 4) if smoke else ("resnet18_1w1a", 256)
    model = build_recu_net(arch, 10, "recu")
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    return Case(f"ReCU {arch}", model, (x, y), lambda m, b: classification_step(m, b)[0], _sgd(0.1, 5e-4), batch,
                f"b{batch} 32²")


def _pss(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.pipelines.pss_net.slimmable import build_supernet
    from cvpapers.pipelines.pss_net.training import USNetSampler, sandwich_step

    # smoke: the embedded mbv1_tiny supernet; paper: the slimmable MobileNetV1 (conf/paper), 256 per GPU of 4
    if smoke:
        model, batch, side = build_supernet("mbv1_tiny", 10, 4, (0.5, 1.0), [24, 28, 32]), 4, 32
    else:
        model, batch, side = build_supernet("mobilenet_v1", 1000, 8, (0.75, 1.0), list(range(128, 225, 8))), 256, 224
    sampler = USNetSampler(model.space, seed=0)  # a fixed middle subnet: the sandwich's cost, no pool bookkeeping
    sampler.on_iteration_start(0, 0, 1, model)
    step = sandwich_step(sampler)
    x = torch.randn(batch, 3, side, side, generator=g).to(device)
    y = torch.randint(0, model.classifier.out_features, (batch,), generator=g).to(device)
    return Case(f"PSS-Net sandwich ({model.arch})", model, (x, y), lambda m, b: step(m, b)[0], _sgd(0.3, 1e-4),
                batch, f"b{batch} {side}²")


def _collab_compression(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.engine.steps import classification_step
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.collab_compression.export import compressible_layers
    from cvpapers.pipelines.collab_compression.method import export

    # The fine-tuning step of a compressed network (gather → k×k conv → 1×1 conv; producers slimmed) with a
    # fixed plan of the size CC reaches at α 0.5: every compressible layer keeps 3/4 of its input channels,
    # and conv1 of each block / every second VGG conv is decomposed to half its rank. smoke: vgg_small 16²;
    # paper: ResNet-56 on CIFAR, batch 128, SGD lr 0.1 wd 1e-4 (official compress.py).
    arch, batch, side = ("vgg_small", 4, 16) if smoke else ("resnet56", 128, 32)
    model = build_classifier(arch, 10)
    plan = {}
    for i, name in enumerate(compressible_layers(model)):
        conv = model.get_submodule(name)
        keep = list(range(0, conv.in_channels))[: max(1, (3 * conv.in_channels) // 4)]
        plan[name] = {"keep": keep, "rank": conv.out_channels // 2 if i % 2 == 0 else None}
    model = export(model, plan, slim=True)
    x = torch.randn(batch, 3, side, side, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    return Case(f"CC compressed {arch}", model, (x, y), lambda m, b: classification_step(m, b)[0], _sgd(0.1, 1e-4),
                batch, f"b{batch} {side}²")


def _mtda_ccl(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.pipelines.mtda_collab import ccl

    # MTDA-CCL's Stage 2 (the costliest step): two experts and the student trained jointly — per expert the
    # translated source, its own target and one bridged batch; the student on both targets and the source.
    # smoke: the embedded TinyDeepLabV2 at 32×64, batch 2; paper: single-level DeepLab-v2 R101, 19 classes,
    # batch 1 per domain at 512×1024 (papers/mtda_collab.md §4.1, §5).
    if smoke:
        cfg, batch, (h, w) = {"name": "tiny_deeplabv2", "num_classes": 8, "aux": True}, 2, (32, 64)
    else:
        cfg, batch, (h, w) = {"name": "deeplabv2_r101", "num_classes": 19, "multi_level": False}, 1, (512, 1024)
    names = ["cityscapes", "idd"]
    model = ccl.build_members([*names, ccl.STUDENT], cfg)
    img = lambda: torch.randn(batch, 3, h, w, generator=g).to(device)  # noqa: E731
    tgt = [img(), img()]
    b = {"src_y": torch.randint(0, cfg["num_classes"], (batch, h, w), generator=g).to(device),
         "src_to": [img(), img()], "tgt": tgt, "tgt_hidden": [torch.zeros(batch, h, w, dtype=torch.long,
                                                                          device=device)] * 2,
         "bridge": {(0, 1): img(), (1, 0): img()}, "mixed": img(), "tgt_mixed": torch.cat(tgt)}
    step = ccl.ccl_step(names, ccl.ExpertRecipe(1.0, 0.9, 0.1), ccl.CclWeights(0.5, 1.0, 1.0, 0.01), batch)
    return Case(f"MTDA-CCL stage 2, 2 experts + student ({cfg['name']})", model, b, lambda m, bb: step(m, bb)[0],
                _sgd(2.5e-4, 5e-4), 7 * batch, f"b{batch}/domain {h}×{w}")


def _msda_collab(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.pipelines.msda_collab import collab

    # MSCL's stage-B step (its costliest): two source models, each supervised on its own source batch, the
    # collaborative KL on the other source's batch, and CE on the eval-mode ensemble's online pseudo labels of a
    # target batch. smoke: the embedded TinyDeepLabV2 at 32×64, batch 2 per domain; paper: DeepLab-v2 R101
    # multi-level, 19 classes, batch 1 per domain at 512×1024 (papers/msda_collab.md §3.6, §4).
    if smoke:
        cfg, batch, (h, w) = {"name": "tiny_deeplabv2", "num_classes": 8, "aux": True}, 2, (32, 64)
    else:
        cfg, batch, (h, w) = {"name": "deeplabv2_r101", "num_classes": 19, "multi_level": True}, 1, (512, 1024)
    names = ("gta5", "synscapes")
    model = collab.build_members({s: cfg for s in names})
    img = lambda: torch.randn(batch, 3, h, w, generator=g).to(device)  # noqa: E731
    lab = lambda: torch.randint(0, cfg["num_classes"], (batch, h, w), generator=g).to(device)  # noqa: E731
    b = ((img(), img()), (lab(), lab()), img(), None)
    step = collab.CollabStep(names, collab.CollabWeights(lambda_t=0.1, lambda_t_ramp="none", stage_a_iters=0))
    return Case(f"MSCL stage B, 2 source models ({cfg['name']})", model, b, lambda m, bb: step(m, bb)[0],
                _sgd(2.5e-4, 5e-4), 3 * batch, f"b{batch}/domain {h}×{w}")


def _uformer(smoke: bool, device: torch.device, g: torch.Generator) -> Case:
    from cvpapers.pipelines.uformer.loss import charbonnier
    from cvpapers.pipelines.uformer.networks import VARIANTS, Uformer

    # Uformer's training step: Charbonnier on the restored patch, AdamW (papers/uformer.md §3.6). smoke: the
    # embedded Uformer-nano (C=8, depth 1, window 4) at 32², batch 16; paper: Uformer-B at SIDD's 128² patches,
    # batch 32, drop path 0.1.
    if smoke:
        model, batch, side = Uformer(img_size=32, embed_dim=8, depths=(1,) * 9, win_size=4, drop_path_rate=0.0), 16, 32
    else:
        model, batch, side = Uformer(img_size=128, drop_path_rate=0.1, **VARIANTS["B"]), 32, 128
    noisy = torch.rand(batch, 3, side, side, generator=g).to(device)
    clean = torch.rand(batch, 3, side, side, generator=g).to(device)

    def opt(params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=2e-4, weight_decay=0.02)

    label = "Uformer-nano (embedded)" if smoke else "Uformer-B"
    return Case(label, model, (noisy, clean), lambda m, b: charbonnier(m(b[0]).float(), b[1]), opt, batch,
                f"b{batch} {side}²")


MODELS: dict[str, Callable[[bool, torch.device, torch.Generator], Case]] = {
    "dcff_compact": lambda s, d, g: _dcff(False, s, d, g),
    "dcff_fused": lambda s, d, g: _dcff(True, s, d, g),
    "deeplabv2_r101": _deeplab,
    "fhdrnet_bn": lambda s, d, g: _hdr("fhdrnet", s, d, g),
    "fhdrnet_official": lambda s, d, g: _hdr("fhdrnet", s, d, g, official=True),
    "ahdrnet": lambda s, d, g: _hdr("ahdrnet", s, d, g),
    "retinanet_miaod": _miaod,
    "recu_resnet18_1w1a": _recu,
    "pss_mbv1_supernet": _pss,
    "cc_resnet56_compressed": _collab_compression,
    "mtda_ccl_r101": _mtda_ccl,
    "msda_collab_r101": _msda_collab,
    "uformer_b": _uformer,
}


# ------------------------------------------------------------------------------------------------ timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to_channels_last(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.contiguous(memory_format=torch.channels_last) if obj.dim() == 4 and obj.is_floating_point() else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_channels_last(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_channels_last(v) for k, v in obj.items()}
    return obj


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def measure(key: str, precision: str, device: torch.device, smoke: bool, steps: int, warmup: int,
            channels_last: bool = False, seed: int = 0, compile: bool = False, profile: bool = False,
            ) -> dict[str, Any]:
    """Build model ``key`` fresh, run ``warmup`` steps, count one step's FLOPs, time ``steps`` steps."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    rss0 = _rss_mib()
    case = MODELS[key](smoke, device, g)
    model = case.model.to(device).train()
    batch = case.batch
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        batch = _to_channels_last(batch)
    opt = case.optimizer([p for p in model.parameters() if p.requires_grad])
    forward_model = torch.compile(model) if compile else model  # compiles during the warm-up steps
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())

    def step(m: nn.Module = forward_model) -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = case.loss(m, batch)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    with FlopCounterMode(display=False) as counter:  # eager: the counter sees every aten op
        step(model)
    flops = float(counter.get_total_flops())
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mib() - rss0
    profiled = _profile(step, device, median) if profile else {}
    params = sum(p.numel() for p in model.parameters())
    label, shape, images = case.label, case.shape, case.images
    return {
        "model": key, "description": label, "batch": shape,
        "precision": precision, "device": device.type, "params_M": params / 1e6,
        "step_ms": median * 1e3, "img_per_s": images / median,
        "peak_mem_MiB": peak, "gflop_per_step": flops / 1e9, "tflop_per_s": flops / median / 1e12,
        **profiled,
    }


def _profile(step: Callable[[], None], device: torch.device, median_s: float, n: int = 3) -> dict[str, float]:
    """Per step, from ``torch.profiler`` over ``n`` steps: aten calls, CUDA kernel launches, and the share of the
    step's median wall time the GPU spends in kernels (``gpu_busy_pct``; kernels may overlap, so it is an
    upper bound when streams run concurrently)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(n):
            step()
        _sync(device)
    events = prof.events()
    out = {"aten_calls_per_step": sum(e.name.startswith("aten::") for e in events) / n}
    if device.type == "cuda":
        kernels = [e for e in events if e.device_type == DeviceType.CUDA]
        busy_s = sum(e.time_range.elapsed_us() for e in kernels) / 1e6 / n
        out.update(kernels_per_step=len(kernels) / n, gpu_busy_pct=100.0 * busy_s / median_s)
    return out


def run(keys: list[str], precisions: list[str], device: torch.device, smoke: bool, steps: int, warmup: int,
        channels_last: bool = False, compile: bool = False, profile: bool = False) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        for precision in precisions:
            row = measure(key, precision, device, smoke, steps, warmup, channels_last, compile=compile,
                          profile=profile)
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the previous model's tensors are gone with measure()'s frame
            print(f"  {key:16s} {precision:4s} {row['img_per_s']:10.1f} img/s  {row['tflop_per_s']:.3g} TFLOP/s",
                  flush=True)
    return rows


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    return torch.device(name)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--sizes", choices=("paper", "smoke"), default="paper")
    ap.add_argument("--precision", nargs="+", choices=PRECISIONS, default=None,
                    help="default: fp32 bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (median reported)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    ap.add_argument("--deterministic", choices=("auto", "true", "false"), default="auto",
                    help="the run setting of the same name (engine.device.configure): auto = fast kernels and "
                         "cudnn.benchmark on CUDA, deterministic on CPU")
    ap.add_argument("--no-tf32", action="store_true", help="full fp32 matmuls/convolutions on CUDA")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (the cuda.compile setting)")
    ap.add_argument("--profile", action="store_true",
                    help="add aten calls, CUDA kernels and GPU-busy %% per step (torch.profiler over 3 steps)")
    ap.add_argument("--channels-last", action="store_true", help="model and 4-D inputs in channels_last")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    ap.add_argument("--out-dir", type=Path, default=REPO / "data/08_reporting")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")

    device = resolve_device(args.device)
    precisions = args.precision or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    if args.threads:
        torch.set_num_threads(args.threads)
    from cvpapers.engine.config import CudaParams
    from cvpapers.engine.device import configure

    deterministic = {"auto": "auto", "true": True, "false": False}[args.deterministic]
    configure(device, deterministic, CudaParams(tf32=not args.no_tf32))
    print(f"step_speed: device={device} sizes={args.sizes} precision={precisions} steps={args.steps} "
          f"warmup={args.warmup} cudnn.benchmark={torch.backends.cudnn.benchmark} "
          f"cudnn.deterministic={torch.backends.cudnn.deterministic} tf32={torch.backends.cudnn.allow_tf32} "
          f"channels_last={args.channels_last} compile={args.compile}", flush=True)
    rows = run(args.models, precisions, device, args.sizes == "smoke", args.steps, args.warmup, args.channels_last,
               args.compile, args.profile)
    write(rows, args, device)
    return rows


def write(rows: list[dict[str, Any]], args: argparse.Namespace, device: torch.device) -> None:
    import pandas as pd

    from cvpapers.io.datasets import to_markdown

    df = pd.DataFrame(rows)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "step_speed.csv", index=False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    mem = "CUDA max_memory_allocated" if device.type == "cuda" else "growth of peak RSS (0: below an earlier peak)"
    header = (f"# Training-step speed ({args.sizes} sizes, {name})\n\n"
              f"torch {torch.__version__}; median of {args.steps} steps after {args.warmup} warm-up; "
              f"cudnn.benchmark={torch.backends.cudnn.benchmark}, tf32={torch.backends.cudnn.allow_tf32}, "
              f"channels_last={args.channels_last}, compile={args.compile}. "
              f"FLOPs: torch.utils.flop_counter over one step (forward + backward). peak_mem_MiB: {mem}.\n\n")
    table = to_markdown(df)
    (out / "step_speed.md").write_text(header + table + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
