"""Kedro glue for FHDRNet: scenes → network inputs → classical merges, AHDRNet, FHDRNet w/o HF, FHDRNet →
evaluation on the test scenes → claims. ``domain`` (rgb | raw) is bound by the registered pipeline.

Scene and input sets travel as ``.npz`` dicts; models as checkpoints that rebuild themselves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.fhdrnet.config import FhdrnetParams, validate

Arrays = dict[str, np.ndarray]
MODELS = ("ahdrnet", "fhdrnet_nohf", "fhdrnet")
LABELS = {"ahdrnet": "AHDRNet", "fhdrnet_nohf": "FHDRNet w/o HF", "fhdrnet": "FHDRNet",
          "naive_merge": "naive merge", "reference_only": "reference only"}


def _params(params: dict[str, Any]) -> FhdrnetParams:
    return validate(params)


def _device(p: FhdrnetParams) -> torch.device:
    from cvpapers.engine.device import resolve_device

    return resolve_device(p.device)


def _gamma(p: FhdrnetParams, domain: str) -> float:
    return p.data.gamma if domain == "rgb" else 1.0  # RAW HDR-domain inputs are linear (r / ER)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def make_hdr_scenes(params: dict[str, Any], domain: str) -> tuple[Arrays, Arrays, Arrays, dict[str, float], Any]:
    """Synthetic scenes (train / val / test with separate seeds), or the Kalantari / RAW dataset on disk."""
    from cvpapers.data.hdr_scenes import HdrSceneConfig, make_scenes, scene_stats

    p = _params(params)
    expected = {"kalantari": "rgb", "raw_official": "raw"}.get(p.data_source, domain)
    if expected != domain:
        raise ValueError(f"fhdrnet.data_source '{p.data_source}' holds {expected.upper()} data but this pipeline is "
                         f"the {domain.upper()} one; run {'fhdrnet' if expected == 'rgb' else 'fhdrnet_raw'} instead")
    if p.data_source == "synthetic":
        d = p.data.model_dump()
        cfg = HdrSceneConfig(**{k: v for k, v in d.items() if k not in ("n_train", "n_val", "n_test")})
        # Separate seeds per split: validation (model selection) never sees the test scenes.
        train, val, test = (make_scenes(n, cfg, p.seed + 100_000 * i, domain)
                            for i, n in enumerate((p.data.n_train, p.data.n_val, p.data.n_test)))
    else:
        train, val, test = _real_scenes(p, domain)
    metrics = {f"data/{k}": float(v) for k, v in scene_stats(test).items()}
    metrics.update({"data/n_train": float(len(train["hdr"])), "data/n_val": float(len(val["hdr"])),
                    "data/n_test": float(len(test["hdr"])),
                    "data/input_bit_depth": float(16 if p.data_source == "kalantari"
                                                  else p.data.raw_bits if domain == "raw" else p.data.ldr_bits)})
    return train, val, test, metrics, _montage(test, domain)


def _real_scenes(p: FhdrnetParams, domain: str) -> tuple[Arrays, Arrays, Arrays]:
    from cvpapers.data.hdr_formats import read_kalantari, read_raw_dataset

    r = p.real_data
    if p.data_source == "kalantari":
        train_all, test = read_kalantari(r.root, r.train_subdir), read_kalantari(r.root, r.test_subdir)
    else:
        train_all = read_raw_dataset(r.root, r.raw_height, r.raw_width, "train", raw_bits=p.data.raw_bits)
        test = read_raw_dataset(r.root, r.raw_height, r.raw_width, "test", raw_bits=p.data.raw_bits)
    # The paper selects checkpoints on the test set; we hold out a seeded share of training scenes instead.
    n = len(train_all["hdr"])
    order = np.random.default_rng(p.seed).permutation(n)
    n_val = max(1, round(r.val_fraction * n))
    pick = {"val": np.sort(order[:n_val]), "train": np.sort(order[n_val:])}
    split = {s: {k: v[idx] for k, v in train_all.items() if isinstance(v, np.ndarray) and len(v) == n}
             for s, idx in pick.items()}
    return split["train"], split["val"], {k: v for k, v in test.items() if isinstance(v, np.ndarray)}


def _display(x: np.ndarray, domain: str) -> np.ndarray:
    """Images for people: RGB as is; packed RAW as a quick demosaic (R, mean of G's, B)."""
    if domain == "raw":
        x = np.stack([x[..., 0], 0.5 * (x[..., 1] + x[..., 3]), x[..., 2]], -1)
    return np.clip(x, 0, 1)


def _tonemap(h: np.ndarray, mu: float = 5000.0) -> np.ndarray:
    from cvpapers.metrics.hdr import mu_law

    return mu_law(torch.from_numpy(np.clip(h, 0, None)), mu).numpy()


def _montage(scenes: Arrays, domain: str, n: int = 4) -> Any:
    from cvpapers.engine import plots

    rows = {}
    for i in range(min(n, len(scenes["hdr"]))):
        ldr = [_display(scenes["ldr"][i, j], domain) for j in range(3)]
        gt = _display(_tonemap(scenes["hdr"][i]), domain)
        mask = np.repeat(scenes["mask"][i][..., None].astype(np.float32), 3, -1)
        rows[f"scene {i}"] = (np.stack([*ldr, gt, mask]) * 255).astype(np.uint8)
    return plots.labelled_rows(rows, "short | reference | long | tone-mapped HDR truth | motion mask")


def build_inputs(train: Arrays, val: Arrays, test: Arrays, params: dict[str, Any], domain: str,
                 ) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Network inputs per frame (§3.3): LDR-domain and HDR-domain images, concatenated."""
    from cvpapers.data.hdr_scenes import build_inputs as inputs

    p = _params(params)
    sets = [inputs(s, p.data.gamma, domain) for s in (train, val, test)]
    x = sets[0]["x"]
    hdr_part = x[:, :, x.shape[2] // 2:]
    return (*sets, {"inputs/hdr_domain_min": float(hdr_part.min()), "inputs/hdr_domain_max": float(hdr_part.max()),
                    "inputs/channels": float(x.shape[2])})


def eval_classical(test: Arrays, params: dict[str, Any], domain: str) -> dict[str, float]:
    """The two references without learning: the reference frame (short where it saturates), and a
    hat-weighted exposure merge with no motion handling (it shows the ghosts)."""
    from cvpapers.metrics.hdr import hdr_metrics
    from cvpapers.pipelines.fhdrnet.classical import naive_merge, reference_only

    p = _params(params)
    ldr = torch.from_numpy(test["ldr"]).permute(0, 1, 4, 2, 3).float()
    times = torch.from_numpy(_times(test, domain))
    target, mask = torch.from_numpy(test["hdr"]).permute(0, 3, 1, 2), torch.from_numpy(test["mask"])
    out: dict[str, float] = {}
    for name, merge in (("reference_only", reference_only), ("naive_merge", naive_merge)):
        m = hdr_metrics(merge(ldr, times, _gamma(p, domain)), target, mask, p.train.mu)
        out.update({f"classical/{name}/{k}": _mean(k, v) for k, v in m.items()})
    return out


def _mean(key: str, values: torch.Tensor) -> float:
    """Mean over test images. Only the ghost metric may be NaN for an image (no motion in it); any other
    NaN means a broken prediction and must show, not be averaged away."""
    v = values.double().numpy()
    if key == "ghost_psnr_mu":
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return float(v.mean())


def _times(scenes: Arrays, domain: str) -> np.ndarray:
    """Relative exposure times t_i (t_1 = 1): 2^(stops − min) for RGB, the EXIF ratios for RAW."""
    e = scenes["exposure"].astype(np.float32)
    return np.exp2(e - e.min(axis=1, keepdims=True)) if domain == "rgb" else e


# ------------------------------------------------------------------------------------------------
# training (the same loss, optimiser, budget and seed for all three networks)
# ------------------------------------------------------------------------------------------------


def _model_config(name: str, p: FhdrnetParams, domain: str) -> dict[str, Any]:
    in_ch, out_ch, head = (6, 3, "sigmoid") if domain == "rgb" else (8, 4, "softplus")
    if name == "ahdrnet":
        return {"name": name, "in_channels": in_ch, "out_channels": out_ch, "head": head, **p.ahdrnet.model_dump()}
    m = p.model
    return {"name": name, "in_channels": in_ch, "out_channels": out_ch, "head": head, "nf": m.nf,
            "n_res_blocks": m.n_res_blocks, "use_bn": m.use_bn}


def _build(config: dict[str, Any]) -> torch.nn.Module:
    from cvpapers.models.hdr import build_hdr_model

    return build_hdr_model(config["name"], **{k: v for k, v in config.items() if k != "name"})


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x[:, 0], x[:, 1], x[:, 2])


def _draw(train: Arrays, batch: int, augment: str, crop: int | None) -> Any:
    """Training batches: scenes drawn uniformly, each with its own crop window and its own dihedral
    transform (official code: with p = 0.5 a vertical or horizontal flip, then rot90 by k ∈ {0..3}),
    applied identically to its three frames and its ground truth."""
    x_all, y_all = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    h, w = x_all.shape[-2:]
    side = min(crop, h, w) if crop is not None else None

    def draw(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(x_all), (batch,), generator=g)
        if side is None:
            x, y = x_all[idx], y_all[idx]
        else:  # crop each sample before gathering, so a batch never copies whole real frames
            tops = torch.randint(0, h - side + 1, (batch,), generator=g)
            lefts = torch.randint(0, w - side + 1, (batch,), generator=g)
            x = torch.stack([x_all[i, ..., t:t + side, s:s + side] for i, t, s in zip(idx, tops, lefts, strict=True)])
            y = torch.stack([y_all[i, ..., t:t + side, s:s + side] for i, t, s in zip(idx, tops, lefts, strict=True)])
        if augment == "dihedral":
            flip = torch.rand(batch, generator=g) < 0.5
            vertical = torch.rand(batch, generator=g) < 0.5
            k = torch.randint(0, 4 if x.shape[-1] == x.shape[-2] else 1, (batch,), generator=g)
            x, y = _dihedral(x, y, flip, vertical, k)
        return x.contiguous(), y.contiguous()

    return draw


def _dihedral(x: torch.Tensor, y: torch.Tensor, flip: torch.Tensor, vertical: torch.Tensor,
              k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample flips and rotations, grouped by transform (at most 12 groups, never a loop per pixel)."""
    x, y = x.clone(), y.clone()
    code = flip.long() * (1 + vertical.long()) * 4 + k  # 0..3: rot only; 4..7: h-flip; 8..11: v-flip
    for c in code.unique().tolist():
        sel = code == c
        xs, ys = x[sel], y[sel]
        if c >= 4:
            dim = -1 if c < 8 else -2
            xs, ys = xs.flip(dim), ys.flip(dim)
        x[sel], y[sel] = torch.rot90(xs, c % 4, (-2, -1)), torch.rot90(ys, c % 4, (-2, -1))
    return x, y


def _predict(model: torch.nn.Module, x: np.ndarray, device: torch.device, batch: int) -> torch.Tensor:
    from cvpapers.engine.device import autocast

    model.eval()
    outs = []
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % 8, -w % 8  # three Haar levels need sizes divisible by 8
    with torch.inference_mode(), autocast(device):
        for s in range(0, len(x), batch):
            xb = torch.from_numpy(x[s:s + batch]).to(device)
            if pad_h or pad_w:
                n, f, c = xb.shape[:3]
                xb = torch.nn.functional.pad(xb.reshape(n, f * c, h, w), (pad_w // 2, pad_w - pad_w // 2,
                                                                          pad_h // 2, pad_h - pad_h // 2),
                                             mode="reflect").reshape(n, f, c, h + pad_h, w + pad_w)
            out = _forward(model, xb).float().cpu()
            outs.append(out[..., pad_h // 2:pad_h // 2 + h, pad_w // 2:pad_w // 2 + w])
    return torch.cat(outs)


def _train(name: str, train: Arrays, val: Arrays, params: dict[str, Any], domain: str,
           ) -> tuple[dict[str, Any], dict[str, float]]:
    from cvpapers.engine.checkpoint import data_digest, model_checkpoint
    from cvpapers.engine.iterative import train_iterations
    from cvpapers.engine.seeding import derive_seed, seed_everything
    from cvpapers.metrics.hdr import hdr_metrics
    from cvpapers.pipelines.fhdrnet.loss import mu_sobel_loss

    p = _params(params)
    dev = _device(p)
    t = p.train
    config = _model_config(name, p, domain)
    seed_everything(derive_seed(p.seed, "init", name))
    model = _build(config)

    def step(m: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        loss, parts = mu_sobel_loss(_forward(m, x).float(), y, t.mu, t.sobel_weight)
        return loss, {"loss": loss.item(), **parts, "n": 1}

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        pred = _predict(m, val["x"], dev, t.eval_batch_size)
        psnr = hdr_metrics(pred, torch.from_numpy(val["y"]), None, t.mu)["psnr_mu"]
        return {"val_psnr_mu": float(psnr.mean())}

    stage = f"{domain}_{name}"
    t0 = time.perf_counter()
    result = train_iterations(
        model, _draw(train, t.batch_size, t.augment, t.crop), step, stage=stage, iters=t.iterations,
        eval_every=t.eval_every, lr=t.lr, device=dev,
        # Every network sees the same batches in the same order: only the architecture differs.
        seed=derive_seed(p.seed, "batches"), optimizer="adam", schedule="constant", evaluate=evaluate,
        checkpoint_path=Path(p.checkpoint_dir) / f"{stage}.pt", resume=p.resume, track_best="val_psnr_mu",
        fingerprint={"model": config, "train": t.model_dump(), "seed": p.seed, "source": p.data_source,
                     "data": data_digest(train["x"], train["y"], val["x"], val["y"])},
        log_prefix=name,
    )
    if result.best_state is None:
        raise FloatingPointError(f"{stage}: validation PSNR-μ was never finite; the model diverged")
    model.load_state_dict(result.best_state)  # the best-validation checkpoint, as the official code keeps
    metrics = {
        f"{name}/best_val_psnr_mu": float(result.best_metrics.get("val_psnr_mu", float("nan"))),
        f"{name}/best_iteration": float((result.best_epoch + 1) * (t.iterations // len(result.history))),
        f"{name}/final_train_loss": float(result.last.get("train_loss", float("nan"))),
        f"{name}/train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
        f"{name}/wall_s": time.perf_counter() - t0,
    }
    return model_checkpoint(model, config), metrics


def train_ahdrnet(train: Arrays, val: Arrays, params: dict[str, Any], domain: str) -> tuple[dict[str, Any], dict[str, float]]:
    """The attention-guided baseline (AHDRNet-small)."""
    return _train("ahdrnet", train, val, params, domain)


def train_fhdrnet_nohf(train: Arrays, val: Arrays, params: dict[str, Any], domain: str) -> tuple[dict[str, Any], dict[str, float]]:
    """Ablation: FHDRNet with every high-frequency band zeroed (no frequency-guided up-sampling)."""
    return _train("fhdrnet_nohf", train, val, params, domain)


def train_fhdrnet(train: Arrays, val: Arrays, params: dict[str, Any], domain: str) -> tuple[dict[str, Any], dict[str, float]]:
    """FHDRNet: wavelet-domain U-Net, LL attention merging and frequency-guided up-sampling."""
    return _train("fhdrnet", train, val, params, domain)


# ------------------------------------------------------------------------------------------------
# evaluation and claims
# ------------------------------------------------------------------------------------------------


def evaluate_hdr(ahdrnet: dict[str, Any], nohf: dict[str, Any], fhdrnet: dict[str, Any], test: Arrays,
                 test_scenes: Arrays, classical: dict[str, float], params: dict[str, Any], domain: str,
                 ) -> tuple[pd.DataFrame, Any, dict[str, float]]:
    """Every model on the test scenes: PSNR-μ, PSNR-L, SSIM-μ/L, PSNR-μ inside the motion mask, size, cost."""
    from cvpapers.engine.checkpoint import check_model_checkpoint
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.metrics.hdr import hdr_metrics
    from cvpapers.models.hdr import StackedFrames

    p = _params(params)
    dev = _device(p)
    target, mask = torch.from_numpy(test["y"]), torch.from_numpy(test["mask"])
    rows, metrics, preds = [], {}, {}
    for key, ckpt in zip(MODELS, (ahdrnet, nohf, fhdrnet), strict=True):
        ckpt = check_model_checkpoint(ckpt, f"{key} checkpoint")
        model = _build(ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
        model.to(dev)
        t0 = time.perf_counter()
        pred = _predict(model, test["x"], dev, p.train.eval_batch_size)
        infer_ms = 1000 * (time.perf_counter() - t0) / len(pred)
        preds[key] = pred
        m = {k: _mean(k, v) for k, v in hdr_metrics(pred, target, mask, p.train.mu).items()}
        _, frames, ch, h, w = test["x"].shape
        macs, params_count = count_macs_params(StackedFrames(model.cpu()), (1, frames * ch, h, w), mode="conv_linear")
        rows.append({"method": LABELS[key], **{k: round(v, 4) for k, v in m.items()},
                     "params": params_count, "GMACs/image": round(macs / 1e9, 3), "infer_ms": round(infer_ms, 1)})
        metrics.update({f"test/{key}/{k}": v for k, v in m.items()})
        metrics.update({f"test/{key}/params_count": float(params_count), f"test/{key}/macs_per_image": float(macs),
                        f"test/{key}/infer_ms": infer_ms})
    for name in ("naive_merge", "reference_only"):
        rows.append({"method": LABELS[name], **{k.split("/")[-1]: round(v, 4) for k, v in classical.items()
                                                if k.startswith(f"classical/{name}/")}})
    return pd.DataFrame(rows), _samples(test_scenes, target, preds, domain), metrics


def _samples(scenes: Arrays, target: torch.Tensor, preds: dict[str, torch.Tensor], domain: str, n: int = 4) -> Any:
    """inputs | FHDRNet | AHDRNet | truth, tone-mapped, and FHDRNet's |error| (scaled ×4)."""
    from cvpapers.engine import plots

    def img(t: torch.Tensor) -> np.ndarray:
        return (_display(_tonemap(t.permute(1, 2, 0).numpy()), domain) * 255).astype(np.uint8)

    rows = {}
    for i in range(min(n, len(target))):
        ldr = [(_display(scenes["ldr"][i, j], domain) * 255).astype(np.uint8) for j in range(3)]
        err = (preds["fhdrnet"][i] - target[i]).abs()
        err_img = (np.clip(4 * _display(err.permute(1, 2, 0).numpy(), domain), 0, 1) * 255).astype(np.uint8)
        rows[f"scene {i}"] = np.stack([*ldr, img(preds["fhdrnet"][i]), img(preds["ahdrnet"][i]), img(target[i]), err_img])
    return plots.labelled_rows(rows, "short | reference | long | FHDRNet | AHDRNet | truth (μ-law) | FHDRNet |error|×4")


def check_claims(table: pd.DataFrame, metrics: dict[str, float]) -> dict[str, float]:
    """FHDRNet minus AHDRNet (PSNR-μ overall and inside the motion mask) and minus its no-HF ablation."""
    f, a, n = (f"test/{k}/" for k in ("fhdrnet", "ahdrnet", "fhdrnet_nohf"))
    claims = {
        "claim/psnr_mu_gain_vs_ahdrnet": metrics[f + "psnr_mu"] - metrics[a + "psnr_mu"],
        "claim/ghost_psnr_mu_gain_vs_ahdrnet": metrics[f + "ghost_psnr_mu"] - metrics[a + "ghost_psnr_mu"],
        "claim/psnr_mu_gain_vs_nohf": metrics[f + "psnr_mu"] - metrics[n + "psnr_mu"],
        "compare/psnr_l_gain_vs_ahdrnet": metrics[f + "psnr_l"] - metrics[a + "psnr_l"],
        "compare/ssim_mu_gain_vs_ahdrnet": metrics[f + "ssim_mu"] - metrics[a + "ssim_mu"],
    }
    naive = float(table.set_index("method").loc[LABELS["naive_merge"], "ghost_psnr_mu"])
    for key in ("fhdrnet", "fhdrnet_nohf", "ahdrnet"):  # spec §8: every learned model well above the naive merge
        claims[f"compare/ghost_psnr_mu_gain_vs_naive_merge/{key}"] = metrics[f"test/{key}/ghost_psnr_mu"] - naive
    claims["claim/fhdrnet_beats_ahdrnet_psnr_mu"] = float(claims["claim/psnr_mu_gain_vs_ahdrnet"] > 0)
    claims["claim/fhdrnet_beats_nohf"] = float(claims["claim/psnr_mu_gain_vs_nohf"] > 0)
    return claims
