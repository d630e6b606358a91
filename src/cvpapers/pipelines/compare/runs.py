"""Runs as the store gives them (parameters as text, flattened keys), grouped into settings and aggregated.

No MLflow import: the drawing code works on the snapshot ``store.collect`` wrote, a plain dict.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

# Columns that say which run(s) a drawn number comes from (joined with "; " when runs are aggregated).
RUN_COLUMNS = ("experiment", "run_id", "start", "seed", "env")


def parse_value(text: Any) -> Any:
    """A parameter as kedro-mlflow logged it (``str(value)``) back to the value: ``"0.08"`` → 0.08,
    ``"None"`` → None, ``"[0.5, 0.75]"`` → list; anything else stays the text."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def digest(obj: Any, n: int = 8) -> str:
    """A short stable id of a JSON-able object (sorted keys), for benchmarks and settings."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def _ignored(key: str, ignore: Sequence[str]) -> bool:
    rest = key.split(".", 1)[1] if "." in key else key
    return any(rest == i or rest.startswith(f"{i}.") for i in ignore)


def setting_of(params: Mapping[str, str], ignore: Sequence[str]) -> dict[str, str]:
    """The parameters that define what a run computes: all but the seed and the ``ignore``d ones (checked on
    the key without its package, so ``data.root`` covers ``dcff.data.root``)."""
    return {k: v for k, v in sorted(params.items()) if not _ignored(k, ignore)}


def setting_labels(settings: Mapping[str, Mapping[str, str]], max_chars: int = 60) -> dict[str, str]:
    """A readable name per setting id of one pipeline: the parameters in which it differs from the others
    (empty when there is one setting)."""
    if len(settings) < 2:
        return dict.fromkeys(settings, "")
    keys = sorted({k for s in settings.values() for k in s})
    varying = [k for k in keys if len({s.get(k) for s in settings.values()}) > 1]
    out = {}
    for sid, s in settings.items():
        text = ", ".join(f"{k.split('.', 1)[-1]}={s.get(k)}" for k in varying)
        out[sid] = text if len(text) <= max_chars else f"{text[: max_chars - 1]}… ({sid})"
    return out


def aggregate(rows: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """One row per ``keys`` group: the mean of each value column, its standard deviation over the runs
    (``<v>_std``, ddof 1; empty for one run), ``n_runs``, and the runs behind it joined with "; "."""
    if rows.empty:
        return pd.DataFrame(columns=[*keys, *values, *(f"{v}_std" for v in values), "n_runs", *RUN_COLUMNS])
    grouped = rows.groupby(list(keys), sort=False, dropna=False)
    out = grouped[list(values)].mean()
    std = grouped[list(values)].std(ddof=1).add_suffix("_std")
    runs = grouped[list(RUN_COLUMNS)].agg(lambda s: "; ".join(dict.fromkeys(str(v) for v in s)))
    table = pd.concat([out, std, grouped.size().rename("n_runs"), runs], axis=1).reset_index()
    return table


def join_unique(values: Iterable[Any]) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def chart_table(
    drawn: pd.DataFrame,
    rows: pd.DataFrame,
    missing: Iterable[Mapping[str, Any]],
    chart: str,
    columns: Sequence[str],
) -> pd.DataFrame:
    """A chart's table: the drawn points, then the rows not drawn and the pipelines not found for ``chart``,
    each with its reason in ``status``."""
    absent = pd.DataFrame(
        [
            {"pipeline": m["pipeline"], "status": f"missing: {m['reason']}"}
            for m in missing
            if m["chart"] == chart
        ]
    )
    table = pd.concat([drawn, rows[rows["status"] != "drawn"], absent], ignore_index=True).reindex(
        columns=columns
    )
    table["n_runs"] = table["n_runs"].astype("Int64")  # empty where not drawn
    return table
