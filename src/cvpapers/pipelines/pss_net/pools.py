"""Subnet pools, priority sampling and the schedules that move sampling from the space to the pools
(spec §3.3, §3.5, §3.6).

A pool is a dict ``cfg key → score`` (score = −cross-entropy on the current training batch, EMA-smoothed on
re-insertion), one per FLOPs target, capacity ``K``. Keys are text and values floats, so the pools travel
in the training checkpoint (loaded with ``weights_only=True``) as they are.
"""

from __future__ import annotations

import numpy as np


def exp_schedule(start: float, end: float, epoch: int, epochs: int) -> float:
    """``start · (end/start)^(epoch/epochs)``: 1 → 0.01 over training, evaluated once per epoch (§3.5)."""
    return start * (end / start) ** (epoch / epochs)


def priority_probs(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(scores / t)``, computed stably (max subtracted: at t = 0.01 raw exponentials overflow)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def route_to_pool(u: float, p: float, pool_len: int, capacity: int) -> bool:
    """Whether this draw comes from the pool: ``u ≥ p`` and the pool is full (else: the structure space)."""
    return u >= p and pool_len >= capacity


class SubnetPools:
    """One bounded pool per target; insertion, EMA update and eviction of the worst entry (§3.6)."""

    def __init__(self, targets: list[str], capacity: int, metric_lambda: float = 0.9) -> None:
        self.capacity, self.metric_lambda = capacity, metric_lambda
        self.pools: dict[str, dict[str, float]] = {t: {} for t in targets}
        self.evictions = 0

    def update(self, target: str, key: str, score: float) -> str | None:
        """Insert ``key`` with ``score`` (or EMA-update it); then evict the minimum if over capacity.
        Returns the evicted key (possibly ``key`` itself), or None."""
        pool = self.pools[target]
        pool[key] = (
            self.metric_lambda * pool[key] + (1 - self.metric_lambda) * score if key in pool else score
        )
        if len(pool) <= self.capacity:
            return None
        worst = min(pool, key=pool.__getitem__)
        del pool[worst]
        self.evictions += 1
        return worst

    def sample(self, target: str, temperature: float, rng: np.random.Generator) -> str:
        """A key of the pool drawn with probability ``softmax(score / t)`` (priority sampling)."""
        keys = list(self.pools[target])
        probs = priority_probs(np.array([self.pools[target][k] for k in keys]), temperature)
        return keys[int(rng.choice(len(keys), p=probs))]

    def ranked(self, target: str) -> list[tuple[str, float]]:
        """The pool's entries, best score first (ties broken by key, so the order is reproducible)."""
        return sorted(self.pools[target].items(), key=lambda kv: (-kv[1], kv[0]))

    def state_dict(self) -> dict:
        return {"pools": {t: dict(p) for t, p in self.pools.items()}, "evictions": self.evictions}

    def load_state_dict(self, state: dict) -> None:
        self.pools = {t: {k: float(v) for k, v in p.items()} for t, p in state["pools"].items()}
        self.evictions = int(state["evictions"])
