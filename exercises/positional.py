"""Sinusoidal positional encoding: telling a transformer where each token is.

Attention by itself ignores order: "your cat is a lovely cat" shuffled would give the
same set of outputs, only permuted. The original transformer therefore adds a fixed
vector ``PE[p]`` to the embedding of the token at position ``p``. Each pair of columns
is a sine/cosine clock of its own frequency, so nearby positions get similar vectors,
and shifting by ``k`` positions is the same rotation for every ``p``.
"""

from __future__ import annotations

import torch

__all__ = ["sinusoidal_positional_encoding"]


def sinusoidal_positional_encoding(
    seq_len: int,
    d_model: int,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The sinusoidal position table of "Attention Is All You Need".

    Args:
        seq_len: number of positions ``p = 0 .. seq_len - 1``.
        d_model: number of columns ``j = 0 .. d_model - 1`` (odd values are allowed).
        base: the wavelength base (10000 in the paper).
        dtype: dtype of the result. device: device of the result.

    Returns:
        Tensor ``[seq_len, d_model]`` with the requested dtype and device.

    Formula: ``w_j = base ** (-(j - j % 2) / d_model)``;
    ``PE[p, j] = sin(p * w_j)`` for even ``j`` and ``cos(p * w_j)`` for odd ``j``.
    Columns ``2i`` and ``2i + 1`` share one frequency.

    Intuition: column 0 rotates fastest (one radian per position) and the last columns
    barely move, like the hands of a clock from seconds to days.

    Pitfall: the columns are interleaved (sin, cos, sin, cos, ...), not concatenated as
    ``[sin | cos]`` the way many libraries do. Compute the angles ``p * w`` in float64
    and cast at the end: float32 angles are already off by about 1e-4 at positions in
    the thousands, and float16 angles are useless. With an odd ``d_model`` there is one
    more sine column than cosine columns.

    Example:
        sinusoidal_positional_encoding(2, 4)  ->  [[0.0000, 1.0000, 0.0000, 1.0000],
                                                   [0.8415, 0.5403, 0.0100, 0.9999]]
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("positional.sinusoidal_positional_encoding is not implemented yet")
