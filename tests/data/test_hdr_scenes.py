"""Invariants of the synthetic HDR scenes and the input builder (fhdrnet.md §3.3, §8, §9 items 7–10)."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from cvpapers.data.hdr_scenes import (
    HdrSceneConfig,
    build_inputs,
    exif_ratio,
    hdr_domain,
    make_scenes,
    pack_rggb,
    scene_stats,
    unpack_rggb,
)

CLEAN = HdrSceneConfig(add_noise=False, quantize=False, add_motion=False)


def _digest(scenes: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(scenes):
        h.update(k.encode())
        h.update(np.ascontiguousarray(scenes[k]).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def rgb() -> dict[str, np.ndarray]:
    return make_scenes(32, HdrSceneConfig(), seed=2021)


@pytest.fixture(scope="module")
def raw() -> dict[str, np.ndarray]:
    return make_scenes(16, HdrSceneConfig(), seed=2021, domain="raw")


# --- §9.7 input builder -----------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["rgb", "raw"])
def test_hdr_domain_inputs_equal_gt_where_unsaturated_in_clean_static_scenes(domain: str) -> None:
    scenes = make_scenes(8, CLEAN, seed=3, domain=domain)
    assert not scenes["mask"].any()  # motion off
    x = build_inputs(scenes, gamma=CLEAN.gamma, domain=domain)["x"]
    c = x.shape[2] // 2
    hdr_in = x[:, :, c:].transpose(0, 1, 3, 4, 2)  # (N, 3, H, W, C)
    gt = np.broadcast_to(scenes["hdr"][:, None], hdr_in.shape)
    unsat = scenes["ldr"] < 1.0
    np.testing.assert_allclose(hdr_in[unsat], gt[unsat], rtol=1e-5, atol=0)
    # every frame contributes: the short frame is (almost) all valid, the long one is clipped in places
    frac = unsat.mean(axis=(0, 2, 3, 4))
    assert frac[0] > 0.999 and frac[2] < frac[1] < frac[0]


def test_rgb_inputs_are_ldr_then_hdr_domain_channel_first(rgb: dict[str, np.ndarray]) -> None:
    out = build_inputs(rgb, gamma=2.2, domain="rgb")
    n, s = len(rgb["hdr"]), 64
    assert out["x"].shape == (n, 3, 6, s, s) and out["x"].dtype == np.float32
    assert out["y"].shape == (n, 3, s, s) and out["mask"].shape == (n, s, s)
    np.testing.assert_array_equal(out["x"][:, :, :3], rgb["ldr"].transpose(0, 1, 4, 2, 3))
    t = 2.0 ** (rgb["exposure"] - rgb["exposure"].min(axis=1, keepdims=True))
    np.testing.assert_allclose(t[:, 0], 1.0)
    expect = rgb["ldr"].astype(np.float64) ** 2.2 / t[:, :, None, None, None]
    np.testing.assert_allclose(out["x"][:, :, 3:], expect.transpose(0, 1, 4, 2, 3), rtol=1e-5, atol=1e-7)


def test_raw_inputs_are_gamma_encoded_then_divided_by_exposure_ratio(raw: dict[str, np.ndarray]) -> None:
    out = build_inputs(raw, gamma=2.2, domain="raw")
    assert out["x"].shape == (16, 3, 8, 64, 64) and out["y"].shape == (16, 4, 64, 64)
    r = raw["ldr"].astype(np.float64).transpose(0, 1, 4, 2, 3)
    np.testing.assert_allclose(out["x"][:, :, :4], r ** (1 / 2.2), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["x"][:, :, 4:], r / raw["exposure"][:, :, None, None, None], rtol=1e-5)


def test_build_inputs_rejects_wrong_domain_channels(rgb: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"raw scenes need ldr of shape \(N, 3, H, W, 4\)"):
        build_inputs(rgb, domain="raw")
    with pytest.raises(ValueError, match="domain"):
        hdr_domain(rgb["ldr"], rgb["exposure"], domain="hsv")  # type: ignore[arg-type]


# --- §9.8 Bayer ---------------------------------------------------------------------------------------


def test_bayer_pack_unpack_round_trip_and_plane_positions() -> None:
    mosaic = np.random.default_rng(0).random((2, 6, 10)).astype(np.float32)
    planes = pack_rggb(mosaic)
    assert planes.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(planes[..., 0], mosaic[..., 0::2, 0::2])  # R
    np.testing.assert_array_equal(planes[..., 1], mosaic[..., 0::2, 1::2])  # G on R rows
    np.testing.assert_array_equal(planes[..., 2], mosaic[..., 1::2, 1::2])  # B
    np.testing.assert_array_equal(planes[..., 3], mosaic[..., 1::2, 0::2])  # G on B rows
    np.testing.assert_array_equal(unpack_rggb(planes), mosaic)
    with pytest.raises(ValueError, match="even"):
        pack_rggb(np.zeros((5, 4)))


def test_raw_gt_samples_white_balanced_radiance_at_rggb_sites() -> None:
    """Replays scene 0's draws: the packed GT is the reference radiance × gains sampled R/G/G/B at the
    code's positions (catches a wrong CFA phase or plane order in the generator)."""
    from cvpapers.data.hdr_scenes import _render_radiance

    cfg = HdrSceneConfig(image_size=16)
    scenes = make_scenes(1, cfg, seed=9, domain="raw")
    rng = np.random.default_rng([9, 0])
    radiance, _, _ = _render_radiance(rng, cfg, 32, 2.0)
    g_r, g_b = rng.uniform(*cfg.raw_gain_r), rng.uniform(*cfg.raw_gain_b)
    ref = radiance[1]
    expect = np.stack([ref[0::2, 0::2, 0] * g_r, ref[0::2, 1::2, 1], ref[1::2, 1::2, 2] * g_b, ref[1::2, 0::2, 1]], -1)
    np.testing.assert_allclose(scenes["hdr"][0], expect, rtol=1e-6)


# --- §9.9 EXIF ratio ------------------------------------------------------------------------------------


def test_exif_ratio_is_iso_time_ratio_with_equal_apertures() -> None:
    iso = np.array([100.0, 200.0, 400.0])
    t = np.array([1 / 400, 1 / 100, 1 / 50])
    er = exif_ratio(iso, t, np.full(3, 4.0))
    np.testing.assert_allclose(er, [1.0, 8.0, 32.0], rtol=1e-12)


def test_exif_ratio_uses_the_codes_aperture_factor_when_apertures_differ() -> None:
    er = exif_ratio(np.full(3, 100.0), np.array([1.0, 2.0, 2.0]), np.array([4.0, 4.0, 8.0]))
    np.testing.assert_allclose(er, [1.0, 2.0, 2.0 * 2 ** (8.0 / 4.0)])


def test_raw_scene_exposure_is_exif_ratio_of_its_metadata(raw: dict[str, np.ndarray]) -> None:
    er = exif_ratio(raw["iso"], raw["time"], raw["aperture"])
    np.testing.assert_allclose(raw["exposure"], er, rtol=1e-6)
    q = er[:, 1]
    assert set(np.round(np.log2(q), 6)) <= {2.0, 3.0}
    np.testing.assert_allclose(er, np.stack([np.ones_like(q), q, q**2], axis=1), rtol=1e-6)


# --- §9.10 determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["rgb", "raw"])
def test_same_seed_gives_identical_scenes_and_other_seed_differs(domain: str) -> None:
    a = make_scenes(3, HdrSceneConfig(image_size=32), seed=11, domain=domain)
    b = make_scenes(3, HdrSceneConfig(image_size=32), seed=11, domain=domain)
    c = make_scenes(3, HdrSceneConfig(image_size=32), seed=12, domain=domain)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert not np.array_equal(a["hdr"], c["hdr"])


def test_scene_k_does_not_depend_on_n() -> None:
    small = make_scenes(2, HdrSceneConfig(image_size=32), seed=4)
    large = make_scenes(5, HdrSceneConfig(image_size=32), seed=4)
    for k in small:
        np.testing.assert_array_equal(small[k], large[k][:2])


def test_noise_quantisation_and_motion_switches_leave_the_scene_unchanged() -> None:
    full = make_scenes(3, HdrSceneConfig(image_size=32), seed=8)
    clean = make_scenes(3, HdrSceneConfig(image_size=32, add_noise=False, quantize=False), seed=8)
    np.testing.assert_array_equal(full["hdr"], clean["hdr"])
    np.testing.assert_array_equal(full["mask"], clean["mask"])
    static = make_scenes(3, HdrSceneConfig(image_size=32, add_motion=False), seed=8)
    np.testing.assert_array_equal(full["exposure"], static["exposure"])


# --- physics ---------------------------------------------------------------------------------------------


def test_rgb_gt_max_is_one_and_all_frame_radiance_bounded(rgb: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(rgb["hdr"].max(axis=(1, 2, 3)), 1.0, rtol=0, atol=1e-7)
    assert rgb["hdr"].min() > 0
    for key in ("ldr", "hdr"):
        assert rgb[key].dtype == np.float32
    assert rgb["ldr"].min() >= 0 and rgb["ldr"].max() <= 1


@pytest.mark.parametrize("domain", ["rgb", "raw"])
def test_short_exposure_never_saturates(domain: str) -> None:
    """The clean short exposure never exceeds full scale (only its brightest pixel reaches it), so nothing
    is lost to the clip; with sensor noise only pixels at the brightest spots can touch the clip, rarely."""
    clean = make_scenes(16, HdrSceneConfig(add_noise=False, quantize=False), seed=21, domain=domain)
    short = clean["ldr"][:, 0]
    assert short.max() <= 1.0
    at_full = (short >= 1.0).any(axis=-1)
    # outside the motion mask only the single brightest reference point reaches full scale; inside it,
    # background uncovered by a moving object may be brighter than the reference maximum and is clamped to it
    assert (at_full & ~clean["mask"]).sum(axis=(1, 2)).max() <= 1
    print(f"\n{domain}: clean short-frame pixels at full scale {at_full.mean():.2e} "
          f"(inside the motion mask {(at_full & clean['mask']).mean():.2e})")
    static = make_scenes(16, CLEAN, seed=21, domain=domain)  # short frame = truth at every pixel
    np.testing.assert_allclose(hdr_domain(static["ldr"], static["exposure"], 2.2, domain)[:, 0], static["hdr"],
                               rtol=1e-5)

    noisy = make_scenes(16, HdrSceneConfig(), seed=21, domain=domain)
    stats = scene_stats(noisy)
    print(f"\n{domain}: short-frame samples at the clip with noise: {stats['frac_saturated_short']:.2e}")
    assert stats["frac_saturated_short"] < 5e-3
    at_clip = (noisy["ldr"][:, 0] >= 1.0).any(axis=-1) & ~noisy["mask"]
    peak = noisy["hdr"].max(axis=-1)
    # the non-reference frames are shifted by up to one (packed) pixel: compare with the 3×3 neighbourhood
    peak = np.max([np.roll(peak, (dy, dx), axis=(1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    peak = peak / peak.max(axis=(1, 2), keepdims=True)
    assert np.all(peak[at_clip] > 0.7)  # outside moving regions, only at the brightest spots of the scene


def test_long_frame_saturates_a_fair_fraction_with_defaults(rgb: dict[str, np.ndarray]) -> None:
    stats = scene_stats(rgb)
    print(f"\nRGB default stats (32 scenes): {stats}")
    assert 0.4 < stats["frac_saturated_long"] < 0.85
    assert 0.1 < stats["frac_saturated_ref"] < stats["frac_saturated_long"]
    assert 0.05 < stats["frac_motion"] < 0.6
    assert 5 < stats["dynamic_range_stops"] < 14


def test_raw_long_frame_saturates_a_fair_fraction_with_defaults(raw: dict[str, np.ndarray]) -> None:
    stats = scene_stats(raw)
    print(f"\nRAW default stats (16 scenes): {stats}")
    assert 0.3 < stats["frac_saturated_long"] < 0.85
    assert 0.05 < stats["frac_saturated_ref"] < stats["frac_saturated_long"]
    assert raw["ldr"][:, 0].max() <= 1.0 and raw["hdr"].max() <= 1.0 + 1e-6


def test_exposures_ordered_short_reference_long(rgb: dict[str, np.ndarray], raw: dict[str, np.ndarray]) -> None:
    e = rgb["exposure"]
    assert np.all(e[:, 1] == 0) and np.all(e[:, 0] == -e[:, 2]) and set(np.unique(e[:, 2])) <= {2.0, 3.0}
    assert np.all(np.diff(e, axis=1) > 0) and np.all(np.diff(raw["exposure"], axis=1) > 0)
    # brighter exposures give brighter frames on average
    means = rgb["ldr"].mean(axis=(2, 3, 4))
    assert np.all(means[:, 0] < means[:, 1]) and np.all(means[:, 1] < means[:, 2])


def test_motion_mask_non_empty_when_objects_move(rgb: dict[str, np.ndarray]) -> None:
    assert rgb["mask"].any(axis=(1, 2)).all()
    # inside the mask at least one non-reference frame differs from the reference scene
    clean = make_scenes(4, HdrSceneConfig(add_noise=False, quantize=False, camera_shift_px=0), seed=2)
    lin = hdr_domain(clean["ldr"], clean["exposure"], 2.2)
    ok = (clean["ldr"] < 1).all(axis=1).all(axis=-1)  # unsaturated in every frame
    diff = np.abs(lin - clean["hdr"][:, None]).max(axis=(1, 4)) > 1e-4 * clean["hdr"].max(axis=-1)
    assert not (diff & ok & ~clean["mask"]).any()  # differences only inside the mask
    assert (diff & clean["mask"]).any()
    static = make_scenes(4, HdrSceneConfig(add_motion=False), seed=2)
    assert not static["mask"].any()


@pytest.mark.parametrize("domain,c", [("rgb", 3), ("raw", 4)])
def test_shapes_and_dtypes_for_both_domains(domain: str, c: int) -> None:
    s = make_scenes(3, HdrSceneConfig(image_size=32), seed=1, domain=domain)
    assert s["ldr"].shape == (3, 3, 32, 32, c) and s["ldr"].dtype == np.float32
    assert s["hdr"].shape == (3, 32, 32, c) and s["hdr"].dtype == np.float32
    assert s["exposure"].shape == (3, 3) and s["exposure"].dtype == np.float32
    assert s["mask"].shape == (3, 32, 32) and s["mask"].dtype == bool
    if domain == "raw":
        assert {"iso", "time", "aperture"} <= set(s) and s["iso"].shape == (3, 3)
        levels = 2**14 - 1
        np.testing.assert_allclose(s["ldr"] * levels, np.round(s["ldr"].astype(np.float64) * levels), atol=1e-3)
    else:
        np.testing.assert_allclose(s["ldr"] * 255, np.round(s["ldr"].astype(np.float64) * 255), atol=1e-3)
    empty = make_scenes(0, HdrSceneConfig(image_size=32), seed=1, domain=domain)
    assert empty["ldr"].shape == (0, 3, 32, 32, c)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="image_size"):
        HdrSceneConfig(image_size=60)
    with pytest.raises(ValueError, match="motion_px"):
        HdrSceneConfig(motion_px=(12, 4))
    with pytest.raises(ValueError, match="exposure_stops"):
        HdrSceneConfig(exposure_stops=())
    with pytest.raises(ValueError, match="unknown HDR scene parameter.*'imagesize'"):
        HdrSceneConfig.from_params({"imagesize": 64})
    cfg = HdrSceneConfig.from_params({"image_size": 32, "exposure_stops": [2, 3], "n_train": 4})
    assert cfg.exposure_stops == (2, 3) and cfg.image_size == 32


# --- speed ------------------------------------------------------------------------------------------------


def test_generation_time_128_rgb_scenes_at_64() -> None:
    t0 = time.perf_counter()
    make_scenes(128, HdrSceneConfig(), seed=0)
    dt = time.perf_counter() - t0
    print(f"\n128 RGB scenes 64×64: {dt:.2f} s")
    assert dt < 20.0


def test_generation_time_128_raw_scenes_at_64() -> None:
    t0 = time.perf_counter()
    make_scenes(128, HdrSceneConfig(), seed=0, domain="raw")
    dt = time.perf_counter() - t0
    print(f"\n128 RAW scenes (128×128 mosaics): {dt:.2f} s")
    assert dt < 40.0
