"""Claim flags that mean what the README says: `mi_aod --env smoke` used to log ``claim/holds = 1`` with every
mAP at 0 (the code's rule, gap > 0 and ratio > 1.2, was not the README's). A run whose detectors learned
nothing never reports the claim as holding."""

from __future__ import annotations

from pathlib import Path

from cvpapers.pipelines.mi_aod.claims import MIN_GAP_LAST3, MIN_HARD_RATIO, MIN_LEARNED_MAP, claim_holds


def test_mi_aod_smoke_learns_nothing_and_its_claim_does_not_hold(smoke_project) -> None:
    from mlflow.tracking import MlflowClient

    project: Path = smoke_project("mi_aod")
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mi_aod")
    (run,) = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
    maps = {k: v for k, v in run.data.metrics.items() if k.endswith("/map") and ".train_" in k}
    assert len(maps) == 10, sorted(maps)  # 5 cycles × (MI-AOD, Random)
    assert max(maps.values()) < MIN_LEARNED_MAP, maps  # the smoke detectors learn (next to) nothing …
    assert run.data.metrics["claim/holds"] == 0.0  # … so the claim is not reported as holding


def test_the_rule_needs_every_arm_to_have_learned() -> None:
    big_gap, selective = MIN_GAP_LAST3 + 10, MIN_HARD_RATIO + 1
    assert not claim_holds(big_gap, selective, [0.0, 0.0])
    assert not claim_holds(big_gap, selective, [50.0, MIN_LEARNED_MAP / 2])
    assert claim_holds(big_gap, selective, [50.0, 40.0])
    assert not claim_holds(MIN_GAP_LAST3 - 0.1, selective, [50.0, 40.0])
    assert not claim_holds(big_gap, MIN_HARD_RATIO - 0.1, [50.0, 40.0])
    assert not claim_holds(float("nan"), selective, [50.0, 40.0])
