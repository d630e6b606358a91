"""Compression units of one conv layer (spec §3.1) and the first-order Taylor loss proxy (§3.2).

A layer's weight ``W`` (n × c × k × k) is handled as its output-mode unfolding ``M`` (n × c·k²). Its
units are the ``c`` input channels (the k² columns of ``M`` that read channel ``j``) and the ``R``
singular components ``σ_t u_t v_tᵀ`` of ``M``. The information loss of replacing ``W`` by ``W'`` is
``ℓ(W') = Σ (G ⊙ (W' − W))²`` with ``G`` the dataset-mean gradient (float64). Everything here works on
whole tensors at once: one SVD per layer, every unit's loss from one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FAMILIES = ("pruning", "td")  # the official `com_ops`: channel pruning and tensor (low-rank) decomposition


@dataclass(frozen=True)
class LayerGeometry:
    """What the FLOPs formula of a compressible conv needs (spec §3.3)."""

    n: int  # output channels
    c: int  # input channels
    k: int  # kernel side (square kernels)
    hw: int  # output positions H·W
    rank: int  # R, the number of rank units
    bias_ops: int = 0  # n·H·W when the conv has a bias (unchanged by compression: conv B carries it)

    @property
    def flops(self) -> int:
        return self.n * self.c * self.k * self.k * self.hw + self.bias_ops

    def flops_at(self, pruned: int, ranks_removed: int) -> int:
        """``F_i(p, z)``: the layer's MACs with ``p`` input channels pruned and ``z`` ranks removed."""
        c_kept = self.c - pruned
        if ranks_removed == 0:
            return self.n * c_kept * self.k * self.k * self.hw + self.bias_ops
        r = self.rank - ranks_removed
        return (c_kept * self.k * self.k * r + r * self.n) * self.hw + self.bias_ops

    def max_unit_flops(self) -> int:
        """The most one unit removal can take from the layer: ``max(n·k², c·k² + n)·H·W`` (spec §9's ``u_i``)."""
        return max(self.n * self.k * self.k, self.c * self.k * self.k + self.n) * self.hw


def rank_units(n: int, c: int, k: int, compat: bool = False) -> int:
    """``R = min(n, c·k²)``; ``compat`` reproduces the official code's ``min(n, c·k)`` (pitfall 3)."""
    return min(n, c * k) if compat else min(n, c * k * k)


def unfold(weight: torch.Tensor) -> torch.Tensor:
    """``W`` (n, c, k, k) → ``M`` (n, c·k²), float64."""
    return weight.detach().to(torch.float64).reshape(weight.shape[0], -1)


def svd(matrix: torch.Tensor, keep: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD ``U, S, Vh`` (descending ``S``), optionally only the top ``keep`` components."""
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    if keep is not None:
        u, s, vh = u[..., :keep], s[..., :keep], vh[..., :keep, :]
    return u, s, vh


def information_loss(changed: torch.Tensor, original: torch.Tensor, grad: torch.Tensor) -> float:
    """``ℓ = Σ (G ⊙ (W' − W))²`` (elementwise square of gradient × change, summed)."""
    return float(((grad * (changed - original)) ** 2).sum())


def channel_losses(m: torch.Tensor, grad: torch.Tensor, k2: int) -> torch.Tensor:
    """Single-unit loss of every input channel ``j``: ``Σ (G[:, j] ⊙ W[:, j])²`` (shape ``c``)."""
    return ((grad * m) ** 2).reshape(m.shape[0], -1, k2).sum(dim=(0, 2))


def quadratic_forms(u: torch.Tensor, vh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``u_tᵀ X v_t`` for every component ``t`` at once."""
    return ((u.transpose(-2, -1) @ x) * vh).sum(-1)


def rank_losses(u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Single-unit loss of every singular component: ``Σ (G ⊙ σ_t u_t v_tᵀ)² = σ_t² (u_t²)ᵀ G² (v_t²)``."""
    return s**2 * quadratic_forms(u**2, vh**2, grad**2)


def squared_reconstruction(u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor) -> torch.Tensor:
    """``Ř = (U∘U) diag(σ∘σ) (V∘V)ᵀ``: the sum over components of ``(σ_t u_t v_tᵀ)²`` (batched)."""
    return ((u**2) * (s**2).unsqueeze(-2)) @ (vh**2)


def factorise(
    weight: torch.Tensor, keep: torch.Tensor, rank: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The final weights of a compressed layer from the **original** kernel (spec §3.5 step 3, pitfall 7).

    ``keep`` are the kept input channels. Without rank removal: ``W[:, keep]`` and ``None``. Otherwise the
    truncated SVD of the pruned kernel's unfolding to ``rank`` components: conv A = ``√Σ_r V_rᵀ`` (rank × c'
    × k × k) and conv B = ``U_r √Σ_r`` (n × rank × 1 × 1). Components beyond the kernel's own rank are zero.
    """
    w = weight.detach().to(torch.float64)[:, keep]
    if rank is None:
        return w, None
    n, c_kept, k, _ = w.shape
    u, s, vh = svd(w.reshape(n, -1), keep=rank)
    have = s.shape[0]
    if have < rank:  # a heavily pruned kernel has fewer components than the bookkeeping's rank
        u = torch.cat([u, u.new_zeros(n, rank - have)], dim=1)
        s = torch.cat([s, s.new_zeros(rank - have)])
        vh = torch.cat([vh, vh.new_zeros(rank - have, vh.shape[1])], dim=0)
    root = s.sqrt()
    a = (root[:, None] * vh).reshape(rank, c_kept, k, k)
    b = (u * root[None, :]).reshape(n, rank, 1, 1)
    return a, b
