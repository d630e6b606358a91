"""Rate-list parsing and expansion (papers/dcff.md §4, §9.2, pitfall 6)."""

from __future__ import annotations

import pytest

from cvpapers.models.classification import prunable_layer_count
from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates, official_rate_count, parse_cprate


def test_parser_accepts_spec_lists_with_repeats_sums_and_parentheses() -> None:
    assert (
        parse_cprate("[0.5]*2+[0.4]*2+[0.35]*3+[0.85]*6") == [0.5] * 2 + [0.4] * 2 + [0.35] * 3 + [0.85] * 6
    )
    nested = parse_cprate("[0.0]+([0.5]*10+[0.5]*6)*2+[0.25]*3+[0.0]")
    assert nested == [0.0] + [0.5] * 32 + [0.25] * 3 + [0.0]
    assert parse_cprate(" 2*[0.1, 0] ") == [0.1, 0.0, 0.1, 0.0]
    assert all(isinstance(r, float) for r in parse_cprate("[0]*3"))


@pytest.mark.parametrize(
    ("key", "length"),
    [("vgg16", 13), ("resnet56", 30), ("resnet110", 57)]
    + [(k, 37) for k in PAPER_RATES if k.startswith("resnet50")],
)
def test_every_paper_preset_parses_to_official_length(key: str, length: int) -> None:
    assert len(parse_cprate(PAPER_RATES[key])) == length == official_rate_count(key.split("_")[0])


@pytest.mark.parametrize(
    ("text", "offending"),
    [
        ("__import__('os')", "__import__('os')"),
        ("[0.1]*2+__import__('os').system('true')", "__import__('os')"),
        ("[0.1, x]", "x"),
        ("[0.1]*2.0", "2.0"),
        ("[0.1]-[0.2]", "[0.1]-[0.2]"),
        ("[True]", "True"),
        ("[0.1]*[2]", "[0.1]*[2]"),
        ("[[0.1]]", "[0.1]"),
    ],
)
def test_parser_rejects_anything_but_number_lists_and_names_the_offending_text(
    text: str, offending: str
) -> None:
    with pytest.raises(ValueError) as info:
        parse_cprate(text)
    assert offending in str(info.value)


def test_parser_rejects_syntax_errors_non_lists_out_of_range_and_huge_repeats() -> None:
    for text in ("[0.1", "3", "[1.0]", "[-0.1]", "[0.1]*10**9", "[0.1]*100000"):
        with pytest.raises(ValueError):
            parse_cprate(text)


def test_resnet56_30_rates_expand_to_55_with_stem_taking_stage1_rate() -> None:
    cprate = [0.01 * i for i in range(27)] + [0.5, 0.6, 0.7]
    layer = expand_layer_rates("resnet56", cprate)
    assert len(layer) == 55 == prunable_layer_count("resnet56")
    assert layer[0] == cprate[-3]
    assert layer[1::2] == cprate[:27]  # conv1 of each block
    assert layer[2::2] == [0.5] * 9 + [0.6] * 9 + [0.7] * 9  # conv2 takes its stage's rate


def test_resnet110_57_rates_expand_to_109() -> None:
    layer = expand_layer_rates("resnet110", PAPER_RATES["resnet110"])
    assert len(layer) == 109
    assert layer[0] == 0.6 and layer[-1] == 0.5


def test_resnet50_37_rates_expand_to_49_stem_conv1_conv2_stage_per_block() -> None:
    cprate = (
        [0.05] + [0.01 * i for i in range(16)] + [0.3 + 0.01 * i for i in range(16)] + [0.6, 0.7, 0.8, 0.9]
    )
    layer = expand_layer_rates("resnet50", cprate)
    assert len(layer) == 49 == prunable_layer_count("resnet50")
    assert layer[0] == 0.05
    assert layer[1::3] == cprate[1:17]
    assert layer[2::3] == cprate[17:33]
    assert layer[3::3] == [0.6] * 3 + [0.7] * 4 + [0.8] * 6 + [0.9] * 3  # per-stage, not the *10/*6 grouping


def test_vgg_rates_are_one_per_conv_and_accept_numbers() -> None:
    assert expand_layer_rates("vgg_small", "[0.5]*6") == [0.5] * 6
    assert expand_layer_rates("vgg16", [0.1] * 13) == [0.1] * 13


@pytest.mark.parametrize(
    ("arch", "text", "expected", "got"),
    [
        ("vgg_small", "[0.5]", 6, 1),
        ("vgg16", "[0.5]*6", 13, 6),
        ("resnet56", "[0.5]*55", 30, 55),
        ("resnet50", "[0.2]*36", 37, 36),
    ],
)
def test_wrong_length_error_names_arch_expected_and_got(
    arch: str, text: str, expected: int, got: int
) -> None:
    with pytest.raises(ValueError) as info:
        expand_layer_rates(arch, text)
    message = str(info.value)
    assert arch in message and f"length {expected}" in message and f"length {got}" in message


def test_unknown_arch_and_out_of_range_numbers_raise() -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        expand_layer_rates("alexnet", [0.1])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        expand_layer_rates("vgg_small", [0.5] * 5 + [1.0])
