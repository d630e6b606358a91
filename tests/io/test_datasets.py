from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DatasetError

from cvpapers.io import FigureDataset, TableDataset, TorchCheckpointDataset


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_round_trip_and_refusal_of_pickled_code(tmp_path: Path) -> None:
    ds = TorchCheckpointDataset(str(tmp_path / "m.pt"))
    ds.save({"format": "x", "state_dict": {"w": torch.ones(2)}})
    assert torch.equal(ds.load()["state_dict"]["w"], torch.ones(2))
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(DatasetError, match="(?i)weights.only"):
        TorchCheckpointDataset(str(tmp_path / "evil.pt")).load()


def test_table_is_written_as_csv_and_markdown(tmp_path: Path) -> None:
    ds = TableDataset(str(tmp_path / "t.csv"))
    ds.save(pd.DataFrame({"method": ["a|b"], "top1": [91.234567]}))
    assert ds.load()["top1"][0] == pytest.approx(91.234567)
    md = (tmp_path / "t.md").read_text()
    assert md.splitlines()[0] == "| method | top1 |" and "a\\|b" in md and "91.23" in md


def test_figure_is_saved_as_png(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    FigureDataset(str(tmp_path / "f.png")).save(fig)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
