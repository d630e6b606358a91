"""DCFF pruning-rate lists: safe parsing and expansion to one rate per prunable conv.

The official DCFF code takes the rates as a Python expression (``--cprate "[0.5]*2+[0.4]*2+..."``)
and ``eval``s it. We accept the same text but evaluate it with ``ast`` over a tiny grammar (list
literals of numbers, ``list * int``, ``list + list``, parentheses), so a configuration file can never
run code.

The official lists are not one rate per conv (``papers/dcff.md`` §4, pitfall 6):

* VGG: one rate per conv.
* CIFAR ResNets (``3n + 3`` values): the first ``3n`` are the rates of conv1 of every block; the last 3
  are one rate per stage, applied to conv2 of every block of that stage *and to the stem* (stage 1),
  because those convs write the same residual stream. Layer-wise:
  ``[stage1] + interleave(conv1 rate of block, stage rate of block)``.
* ResNet-50 (37 values): ``[stem] + 16 conv1 rates + 16 conv2 rates + 4 stage rates``; the stage rate
  sets conv3 of every block (and the downsample output). Layer-wise: ``[stem] + (conv1, conv2, stage)``
  per block. The README's ``*10 + *6`` groupings are per block, not per stage.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from cvpapers.models.classification import ARCHS, prunable_layer_count, stage_blocks

__all__ = ["PAPER_RATES", "expand_layer_rates", "official_rate_count", "parse_cprate"]

_MAX_RATES = 10_000  # no real network has more layers; stops "[0.1]*10**9"-style memory bombs

PAPER_RATES: dict[str, str] = {
    # CIFAR-10 (README / §4.1-4.2)
    "vgg16": "[0.5]*2+[0.4]*2+[0.35]*3+[0.85]*6",
    "resnet56": (
        "[0.7]*2+[0.5]*3+[0.3]*2+[0.4]+[0.8]+[0.7]*2+[0.8]*4+[0.4]+[0.2]*2+[0.7]+[0.3]+[0.8]"
        "+[0.4]*2+[0.7]+[0.3]+[0.4]+[0.8]+[0.0]*3"
    ),
    "resnet110": (
        "[0.2]+[0.0]+[0.2]+[0.3]+[0.7]*2+[0.1]+[0.3]*2+[0.4]+[0.7]*2+[0.5]+[0.1]+[0.3]+[0.0]+[0.6]"
        "+[0.0]+[0.2]+[0.5]+[0.0]+[0.7]*2+[0.5]+[0.7]*2+[0.4]*2+[0.0]+[0.3]+[0.1]+[0.5]+[0.1]*3+[0.7]"
        "+[0.1]*2+[0.3]*5+[0.5]+[0.7]+[0.2]+[0.4]+[0.7]*5+[0.5]+[0.1]+[0.6]+[0.2]+[0.5]"
    ),
    # ILSVRC-2012 ResNet-50 (§4.3), keyed by schedule and FLOPs
    "resnet50_step_0.96b": "[0.0]+[0.8]*10+[0.7]*6+[0.6]*10+[0.4]*6+[0.3]*4",
    "resnet50_step_1.49b": "[0.0]+[0.6]*10+[0.5]*6+[0.5]*10+[0.4]*6+[0.2]*4",
    "resnet50_step_2.25b": "[0.0]+[0.35]*10+[0.3]*6+[0.4]*10+[0.3]*6+[0.1]*4",
    "resnet50_cos_1.52b": "[0.0]+([0.5]*10+[0.5]*6)*2+[0.25]*3+[0.0]",
    "resnet50_cos_1.38b": "[0.0]+([0.7]*7+[0.45]*9)*2+[0.24]*3+[0.0]",
    "resnet50_cos_1.02b": "[0.0]+([0.43]*7+[0.73]*9)*2+[0.45]*3+[0.0]",
}


def _segment(text: str, node: ast.AST) -> str:
    return ast.get_source_segment(text, node) or ast.dump(node)


def _eval_node(text: str, node: ast.AST) -> list[float] | int:
    """Evaluate one node of the rate grammar: lists of numbers, ints (repeat counts), ``+`` and ``*``."""
    if isinstance(node, ast.List):
        values: list[float] = []
        for elt in node.elts:
            if not (
                isinstance(elt, ast.Constant)
                and isinstance(elt.value, int | float)
                and not isinstance(elt.value, bool)
            ):
                raise ValueError(f"rate list element must be a number literal, got {_segment(text, elt)!r}")
            values.append(float(elt.value))
        return values
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _eval_node(text, node.left), _eval_node(text, node.right)
        if isinstance(node.op, ast.Add):
            if isinstance(left, list) and isinstance(right, list):
                out = left + right
            else:
                raise ValueError(f"'+' joins two rate lists, got {_segment(text, node)!r}")
        else:
            if isinstance(left, list) and isinstance(right, int):
                lst, times = left, right
            elif isinstance(left, int) and isinstance(right, list):
                lst, times = right, left
            else:
                raise ValueError(f"'*' repeats a rate list by an integer, got {_segment(text, node)!r}")
            if times < 0 or len(lst) * times > _MAX_RATES:
                raise ValueError(f"repeat count out of range in {_segment(text, node)!r}")
            out = lst * times
        if len(out) > _MAX_RATES:
            raise ValueError(f"rate list longer than {_MAX_RATES} in {_segment(text, node)!r}")
        return out
    if isinstance(node, ast.Constant):
        raise ValueError(
            f"a number outside a list must be an integer repeat count, got {_segment(text, node)!r}"
        )
    raise ValueError(f"unsupported syntax in rate list: {_segment(text, node)!r}")


def parse_cprate(text: str) -> list[float]:
    """Parse an official ``--cprate`` string such as ``"[0.5]*2+[0.4]*2"`` into a list of floats.

    Only list literals of numbers, ``*`` by an integer, ``+`` and parentheses are accepted; anything else
    (names, calls, attributes, ...) raises ``ValueError`` naming the offending text. Rates must lie in
    ``[0, 1)``.
    """
    if not isinstance(text, str):
        raise ValueError(f"rate list must be a string, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot parse rate list {text!r}: {exc.msg}") from exc
    result = _eval_node(text.strip(), tree.body)
    if not isinstance(result, list):
        raise ValueError(f"rate list must evaluate to a list, got {text!r}")
    _check_range(result, text)
    return result


def _check_range(rates: Sequence[float], source: object) -> None:
    bad = [r for r in rates if not 0.0 <= r < 1.0]
    if bad:
        raise ValueError(f"pruning rates must lie in [0, 1); got {bad[:5]} in {source!r}")


def official_rate_count(arch: str) -> int:
    """Length of the official DCFF rate list of ``arch`` (13, 6, 30, 57, 37)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; allowed: {', '.join(ARCHS)}")
    blocks = stage_blocks(arch)
    if not blocks:
        return prunable_layer_count(arch)
    if arch == "resnet50":
        return 1 + 2 * sum(blocks) + len(blocks)
    return sum(blocks) + len(blocks)


def expand_layer_rates(arch: str, cprate: str | Sequence[float]) -> list[float]:
    """Map an official DCFF rate list (text or numbers) to one rate per prunable conv, canonical order.

    The list must have exactly the official length of ``arch`` — a single value is not broadcast, so a
    mistyped list fails here (ValueError naming arch, expected and got length) instead of silently
    pruning the wrong layers.
    """
    rates = parse_cprate(cprate) if isinstance(cprate, str) else [float(r) for r in cprate]
    _check_range(rates, cprate)
    expected = official_rate_count(arch)
    if len(rates) != expected:
        raise ValueError(f"{arch}: expected a rate list of length {expected}, got length {len(rates)}")
    blocks = stage_blocks(arch)
    if not blocks:
        return rates
    n_blocks = sum(blocks)
    stage_of_block = [s for s, n in enumerate(blocks) for _ in range(n)]
    if arch == "resnet50":
        stem, conv1, conv2 = rates[0], rates[1 : 1 + n_blocks], rates[1 + n_blocks : 1 + 2 * n_blocks]
        stage_rates = rates[1 + 2 * n_blocks :]
        layer = [stem]
        for b, s in enumerate(stage_of_block):
            layer += [conv1[b], conv2[b], stage_rates[s]]
        return layer
    conv1, stage_rates = rates[:n_blocks], rates[n_blocks:]
    layer = [stage_rates[0]]  # the stem writes stage 1's residual stream (cprate[-3])
    for b, s in enumerate(stage_of_block):
        layer += [conv1[b], stage_rates[s]]
    return layer
