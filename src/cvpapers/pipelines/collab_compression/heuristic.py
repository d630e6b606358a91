"""Multi-step heuristic compression of one layer with the closed-form look-ahead (spec §3.5).

Each step scores every remaining allowed unit ``u`` by ``B(u) + γ·Fw(u)``: ``B(u)`` is the loss so far if
``u`` is removed, ``Fw(u)`` the expected loss after one more removal ``v`` drawn uniformly from the
``num − 1`` units left after ``u`` (the "remaining compression space"). Summing over the allowed families
(channel ``v`` removes ``W_u[:, v]``; rank ``v`` removes ``σ_v u_v v_vᵀ``; each family sums to ``W_u``):

    Fw(u) = Σ G² ⊙ [ Δ_u² − (2·n_fam/(num−1)) Δ_u ⊙ W_u + (1/(num−1)) (W_u²·[pruning] + Ř_u·[td]) ]

with ``Δ_u = W_u − W``, ``n_fam`` the number of allowed families and ``Ř_u = (U∘U)diag(σ²)(V∘V)ᵀ`` of
``W_u``'s SVD. With both families this is the spec's ``4/(num−1)`` form; a single-family variant
(prune-only, td-only) looks ahead over its own family. Channel candidates are scored with one batched eigendecomposition;
rank candidates need none: removing component ``t`` changes every quantity by rank-one terms
(``Ř_u = Ř − σ_t²(u_t²)(v_t²)ᵀ`` …), evaluated for all ``t`` by quadratic forms. The best ``s`` units are
removed one by one (rank units at their current position, pitfall 11); the layer stops at the first
removal whose FLOPs reduction meets its share ``f_i``, or falls back to pruning alone when that meets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cvpapers.pipelines.collab_compression.units import (
    LayerGeometry,
    quadratic_forms,
    svd,
    unfold,
)

CHUNK_ELEMENTS = 2e7  # channel candidates per batched decomposition × their matrix size (bounds memory)


@dataclass(frozen=True)
class LayerPlan:
    keep: list[int]  # kept input channels, ascending
    ranks_removed: int  # z (0: the layer is not decomposed)
    removed_flops: int  # F_i − F_i(p, z)
    steps: int
    fallback: bool  # pruning alone met the share and the rank removals were discarded

    def rank(self, geom: LayerGeometry) -> int | None:
        return geom.rank - self.ranks_removed if self.ranks_removed else None


def _lookahead(b, cross, wsq, rsq, num: int, n_fam: int) -> torch.Tensor:
    if num <= 1:
        return b
    return b - (2.0 * n_fam / (num - 1)) * cross + (wsq + rsq) / (num - 1)


def weighted_squared_reconstruction(wu: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``Σ A ⊙ Ř(W_u)`` for a batch of matrices without their SVD: with ``U`` the eigenvectors of
    ``W_u W_uᵀ`` (the smaller Gram matrix), ``σ_t v_t = W_uᵀ u_t`` so ``Ř = (U∘U)((UᵀW_u)∘(UᵀW_u))``."""
    n, m = wu.shape[-2:]
    if n <= m:
        u = torch.linalg.eigh(wu @ wu.transpose(-2, -1)).eigenvectors
        return ((u**2).transpose(-2, -1) @ a * (u.transpose(-2, -1) @ wu) ** 2).sum((-2, -1))
    v = torch.linalg.eigh(wu.transpose(-2, -1) @ wu).eigenvectors
    return ((wu @ v) ** 2 * (a @ v**2)).sum((-2, -1))


def channel_scores(m0, cur, a, alive: Sequence[int], k2: int, ops: Sequence[str], num: int) -> torch.Tensor:
    """``(B(u), Fw(u))`` of removing each alive input channel (2 × |alive|).

    Zeroing channel ``j`` changes only its k² columns, so ``B``, the cross term and ``Σ G²W_u²`` are the
    current totals corrected by per-channel block sums; only ``Ř_u`` needs a (batched) decomposition."""
    n, width = cur.shape
    ids = torch.as_tensor(list(alive), dtype=torch.long)
    delta = cur - m0

    def per_channel(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(n, -1, k2).sum(dim=(0, 2))[ids]

    b = (a * delta**2).sum() - per_channel(a * delta**2) + per_channel(a * m0**2)
    cross = (a * delta * cur).sum() - per_channel(a * delta * cur)
    wsq = ((a * cur**2).sum() - per_channel(a * cur**2)) if "pruning" in ops else torch.zeros_like(b)
    rsq = torch.zeros_like(b)
    if "td" in ops and num > 1:
        chunk = max(1, int(CHUNK_ELEMENTS // (n * width)))
        parts = []
        for start in range(0, len(ids), chunk):
            sel = ids[start : start + chunk]
            mask = torch.ones(len(sel), width // k2, dtype=cur.dtype)
            mask[torch.arange(len(sel)), sel] = 0.0
            wu = (cur.reshape(1, n, -1, k2) * mask[:, None, :, None]).reshape(len(sel), n, width)
            try:
                parts.append(weighted_squared_reconstruction(wu, a))
            except torch.linalg.LinAlgError:  # the official fallback: the bracket becomes 2Σ(G⊙W_u)²
                parts.append((a * wu**2).sum((1, 2)))
        rsq = torch.cat(parts)
    return torch.stack([b, _lookahead(b, cross, wsq, rsq, num, len(ops))])


def rank_scores(m0, cur, a, u, s, vh, ops: Sequence[str], num: int) -> torch.Tensor:
    """``(B(u), Fw(u))`` of removing each active singular component of ``cur`` (2 × R−z), no new SVD."""
    delta = cur - m0
    quad = quadratic_forms(u**2, vh**2, a)  # (u_t²)ᵀ G² (v_t²)
    q_delta = quadratic_forms(u, vh, a * delta)
    q_cur = quadratic_forms(u, vh, a * cur)
    s2q = s**2 * quad
    b = (a * delta**2).sum() - 2 * s * q_delta + s2q
    cross = (a * delta * cur).sum() - s * (q_delta + q_cur) + s2q
    wsq = ((a * cur**2).sum() - 2 * s * q_cur + s2q) if "pruning" in ops else torch.zeros_like(b)
    rsq = s2q.sum() - s2q
    return torch.stack([b, _lookahead(b, cross, wsq, rsq, num, len(ops))])


def compress_layer(
    weight: torch.Tensor,
    grad: torch.Tensor,
    geom: LayerGeometry,
    target: float,
    ops: Sequence[str],
    gamma: float = 0.9,
    step_frac: float = 0.01,
) -> LayerPlan:
    """The multi-step heuristic of spec §3.5 for one layer and its share ``target`` of removed FLOPs."""
    everything = list(range(geom.c))
    if target <= 0:
        return LayerPlan(everything, 0, 0, 0, False)
    m0, a = unfold(weight), unfold(grad) ** 2
    k2, use_c, use_r = geom.k * geom.k, "pruning" in ops, "td" in ops
    step = max(1, int(step_frac * (geom.c * use_c + geom.rank * use_r)))
    cur, alive, z = m0.clone(), list(everything), 0
    u, s, vh = svd(m0, keep=geom.rank)
    stale, steps = False, 0

    def reduction(pruned: int, ranks: int) -> int:
        return geom.flops - geom.flops_at(pruned, ranks)

    while True:
        num = len(alive) * use_c + (geom.rank - z) * use_r
        if num == 0:
            break
        if stale:
            u, s, vh = svd(cur, keep=geom.rank - z)
            stale = False
        parts, units = [], []
        if use_c:
            parts.append(channel_scores(m0, cur, a, alive, k2, ops, num))
            units += [("c", j) for j in alive]
        if use_r and geom.rank - z > 0:
            parts.append(rank_scores(m0, cur, a, u, s, vh, ops, num))
            units += [("r", t) for t in range(geom.rank - z)]
        b_fw = torch.cat(parts, dim=1)
        order = torch.argsort(b_fw[0] + gamma * b_fw[1], stable=True)[:step].tolist()
        steps += 1
        removed_ranks: list[int] = []
        for idx in order:
            kind, unit = units[idx]
            if kind == "c":
                cur[:, unit * k2 : (unit + 1) * k2] = 0.0
                alive.remove(unit)
                stale = True
            else:
                pos = unit - sum(r < unit for r in removed_ranks)  # its position now (pitfall 11)
                removed_ranks.append(unit)
                if stale:
                    u, s, vh = svd(cur, keep=geom.rank - z)
                    stale = False
                cur = cur - s[pos] * torch.outer(u[:, pos], vh[pos])
                keep = torch.arange(s.shape[0]) != pos
                u, s, vh, z = u[:, keep], s[keep], vh[keep], z + 1
            done, ranks, fallback = stop_rule(geom, geom.c - len(alive), z, target)
            if done:
                return LayerPlan(alive, ranks, reduction(geom.c - len(alive), ranks), steps, fallback)
    return LayerPlan(alive, z, reduction(geom.c - len(alive), z), steps, False)


def stop_rule(geom: LayerGeometry, pruned: int, ranks: int, target: float) -> tuple[bool, int, bool]:
    """After each single removal: ``(stop, ranks kept removed, fallback)``. Stop once the reduction meets the
    share; when both families were used and pruning alone meets it, discard the rank removals."""
    if geom.flops - geom.flops_at(pruned, ranks) >= target:
        return True, ranks, False
    if pruned and ranks and geom.flops - geom.flops_at(pruned, 0) >= target:
        return True, 0, True
    return False, ranks, False
