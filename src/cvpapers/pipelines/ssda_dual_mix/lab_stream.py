"""LAB translation of a real source set (spec §3.1) without holding images: the target's per-image LAB
statistics in one streaming pass, each source row's reference statistics written into its manifest (the image
is translated when it is read, :class:`cvpapers.da.streams.DAReader`), and the before/after distances measured
on a seeded sample of ``lab.stats_images`` source images. Plain PyTorch and pandas; no Kedro."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cvpapers.pipelines.ssda_dual_mix.stages import Stages


def _target_stats(st: Stages, pool: pd.DataFrame) -> tuple[Any, list[np.ndarray]]:
    from cvpapers.da.lab import LabStatsTally
    from cvpapers.da.streams import DAReader, dataset

    tally, shown = LabStatsTally(), []
    data = dataset(pool, DAReader(st.num_classes, tuple(st.p.data.preprocess.target_size), label=None), None,
                   st.p.data.on_bad_sample)
    for batch in st.stream(data, "LAB statistics (target)", batch_size=4):
        tally.add(batch["image"])
        shown += [im.numpy() for im in batch["image"][: 6 - len(shown)]]
    return tally, shown


def translate_manifest(st: Stages, source: pd.DataFrame, pool: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """``(translated manifest, metrics, before/after figure)``; ``lab.enabled: false`` passes the source through."""
    from cvpapers.da.lab import LabStatsTally, lab_distances, reference_stats, translate_image
    from cvpapers.da.streams import LAB_MEAN, LAB_STD, DAReader, dataset
    from cvpapers.engine import plots
    from cvpapers.pipelines.ssda_dual_mix.sets import _lab_title, source_size

    p = st.p
    n = min(p.lab.stats_images or len(source), len(source)) if p.lab.enabled else min(6, len(source))
    positions = np.sort(st.run.numpy_rng("lab_stats").choice(len(source), n, replace=False))
    sample = source.iloc[positions]
    reader = DAReader(st.num_classes, source_size(p), label=None)
    if not p.lab.enabled:
        shown = [b["image"][0].numpy() for b in st.stream(dataset(sample, reader), "source preview")]
        return source.copy(), {"enabled": 0.0, **st.skip_metrics()}, plots.labelled_rows(
            {"source": np.stack(shown)}, "LAB off")
    tally, target_shown = _target_stats(st, pool)
    ref_mean, ref_std = reference_stats(tally.means(), tally.stds(), len(source), p.lab.reference, p.seed)
    translated = source.assign(**{c: ref_mean[:, k].numpy() for k, c in enumerate(LAB_MEAN)},
                               **{c: ref_std[:, k].numpy() for k, c in enumerate(LAB_STD)})
    sample = translated.iloc[positions].reset_index(drop=True)
    before, after, shown = LabStatsTally(), LabStatsTally(), {"source": [], "translated": []}
    for batch in st.stream(dataset(sample, reader, None, p.data.on_bad_sample), "LAB statistics (source)"):
        row, image = sample.iloc[int(batch["index"][0])], batch["image"][0].numpy()
        out = translate_image(image, row[list(LAB_MEAN)], row[list(LAB_STD)], p.lab.eps)
        before.add(image[None])
        after.add(out[None])
        if len(shown["source"]) < 6:
            shown["source"].append(image)
            shown["translated"].append(out)
    info = lab_distances(before.means(), before.stds(), after.means(), after.stds(), tally.means(), tally.stds())
    fig = plots.labelled_rows({**{k: np.stack(v) for k, v in shown.items()}, "target": np.stack(target_shown)},
                              _lab_title(p, info) + f" ({len(before)} source images)")
    metrics = {"enabled": 1.0, **info, "stats_images": float(len(before)), "target_images": float(len(tally)),
               **st.skip_metrics()}
    return translated, metrics, fig
