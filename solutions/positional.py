"""Sinusoidal positional encoding: telling a transformer where each token is.

Attention by itself ignores order: "your cat is a lovely cat" shuffled would give the
same set of outputs, only permuted. The original transformer therefore adds a fixed
vector ``PE[p]`` to the embedding of the token at position ``p``. Each pair of columns
is a sine/cosine clock of its own frequency, so nearby positions get similar vectors,
and shifting by ``k`` positions is the same rotation for every ``p``.

## Formula

For position `p` and column `j` of a `[seq_len, d_model]` table:

```
w_j      = base ** (-(j - j % 2) / d_model)     (base = 10000 in the paper)
PE[p, j] = sin(p * w_j)   if j is even
PE[p, j] = cos(p * w_j)   if j is odd
```

## The column layout

Columns come in (sin, cos) pairs that share one frequency, *interleaved*:

| column `j`  | 0           | 1           | 2           | 3           | 4           | 5           |
|-------------|-------------|-------------|-------------|-------------|-------------|-------------|
| value       | `sin(p w_0)` | `cos(p w_0)` | `sin(p w_2)` | `cos(p w_2)` | `sin(p w_4)` | `cos(p w_4)` |
| frequency   | 1           | 1           | 10000^(-2/6) | 10000^(-2/6) | 10000^(-4/6) | 10000^(-4/6) |

(many libraries use the other layout, all sines then all cosines: not this one). The
table for `seq_len = 4`, `d_model = 6`, rounded:

| `p` | j=0    | j=1    | j=2   | j=3   | j=4   | j=5   |
|-----|--------|--------|-------|-------|-------|-------|
| 0   | 0.000  | 1.000  | 0.000 | 1.000 | 0.000 | 1.000 |
| 1   | 0.841  | 0.540  | 0.046 | 0.999 | 0.002 | 1.000 |
| 2   | 0.909  | -0.416 | 0.093 | 0.996 | 0.004 | 1.000 |
| 3   | 0.141  | -0.990 | 0.139 | 0.990 | 0.006 | 1.000 |

Position 0 is always `[0, 1, 0, 1, ...]`; the first columns change quickly with `p`,
the last ones barely move. With an odd `d_model` the last column is a sine without its
cosine partner.
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
    # BEGIN SOLUTION
    positions = torch.arange(seq_len, dtype=torch.float64, device=device).unsqueeze(-1)
    cols = torch.arange(d_model, device=device)
    exponents = (cols - cols % 2).to(torch.float64) / d_model
    freqs = torch.pow(torch.tensor(float(base), dtype=torch.float64, device=device), -exponents)
    angles = positions * freqs
    table = torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles))
    return table.to(dtype)
    # END SOLUTION
