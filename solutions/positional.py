"""Positional encodings: telling a transformer where each token is (sinusoidal tables, rotary embeddings).

Attention by itself ignores order: "your cat is a lovely cat" shuffled would give the
same set of outputs, only permuted. The original transformer therefore adds a fixed
vector ``PE[p]`` to the embedding of the token at position ``p``. Each pair of columns
is a sine/cosine clock of its own frequency, so nearby positions get similar vectors,
and shifting by ``k`` positions is the same rotation for every ``p``. Modern language
models take that rotation literally and rotate the queries and keys themselves: see
"Rotary position embedding" below.

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

## Rotary position embedding (RoPE)

The sinusoidal table is *added* to the embeddings once, at the bottom of the network.
RoFormer (Su et al., 2021), used by GPT-J, LLaMA and most recent language models,
instead *rotates* the queries and keys inside every attention layer. The features of a
vector `x` of even size `d` are read as `d / 2` points in the plane, and point `i` is
turned by the angle `p * theta_i`, where `p` is the token's position:

```
pair i      = (x[2i], x[2i + 1])                  i = 0 .. d/2 - 1 (counted from 0)
theta_i     = base ** (-2i / d)                   the same frequencies as the sinusoidal table
y[2i]       = x[2i] * cos(p theta_i) - x[2i + 1] * sin(p theta_i)
y[2i + 1]   = x[2i] * sin(p theta_i) + x[2i + 1] * cos(p theta_i)
```

| tensor      | shape        | meaning                                              |
|-------------|--------------|------------------------------------------------------|
| `x`         | `[..., L, d]` | queries or keys (any leading dims: batch, heads); `d` even |
| `positions` | `[L]`         | integer position of each of the `L` rows (any integers) |
| output      | `[..., L, d]` | same shape and dtype as `x`                          |

A worked example with `d = 4`, so `theta = (1, 0.01)`, and `x = [1, 0, 1, 0]`:

| `p` | output                               |
|-----|--------------------------------------|
| 0   | `[1.0000, 0.0000, 1.0000, 0.0000]`   |
| 1   | `[0.5403, 0.8415, 0.99995, 0.0100]`  |
| 2   | `[-0.4161, 0.9093, 0.9998, 0.0200]`  |

Position 0 leaves `x` unchanged, and a rotation never changes the length of a pair.
The point of rotating is what happens to a dot product. A query at position `p` and a
key at position `s`, rotated by `p theta` and `s theta`, have the dot product of the
unrotated vectors with one of them turned by `(p - s) theta`: it depends only on how
far apart the two tokens are. With one pair, `q = (1, 2)` and `k = (3, -1)`:
positions `(2, 0)`, `(5, 3)` and `(0, -2)` all give `q . k = -6.7812`. Attention
therefore sees *relative* positions, whatever the absolute ones are.
"""

from __future__ import annotations

import torch

__all__ = ["sinusoidal_positional_encoding", "rotary_embedding"]


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


def rotary_embedding(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate each pair of features by an angle proportional to the token's position (RoPE).

    Args:
        x: floating tensor ``[..., L, d]`` (queries or keys) with an even ``d``.
        positions: integer tensor ``[L]``, the position of each row; any integers, not
            necessarily ``0 .. L - 1`` (a cache offset, a packed sequence, negative values).
        base: the wavelength base (10000 in RoFormer and LLaMA).

    Returns:
        Tensor ``[..., L, d]`` with the dtype of ``x``.

    Raises:
        ValueError: if ``d`` is odd.

    Formula: pair ``i`` is the columns ``(2i, 2i + 1)`` and its angle is
    ``a = p * theta_i`` with ``theta_i = base ** (-2i / d)``:
    ``y[2i] = x[2i] cos a - x[2i+1] sin a`` and ``y[2i+1] = x[2i] sin a + x[2i+1] cos a``.
    As complex numbers: ``(x[2i] + 1j * x[2i+1]) * exp(1j * a)``.

    Intuition: every pair is the hand of a clock that turns at its own speed. Rotating
    the query by ``p theta`` and the key by ``s theta`` makes their dot product depend
    on ``p - s`` only, so attention sees how far apart two tokens are.

    Pitfall: the pairs are *interleaved* neighbours ``(0, 1), (2, 3), ...``, not the two
    halves ``(i, i + d/2)`` of Hugging Face's ``rotate_half``. Pairs are counted from 0,
    so the first pair turns by exactly ``p`` radians; the exponent is ``-2i / d``, not
    ``-i / d``. ``+ sin`` goes to the second column of the pair: the other sign turns
    the wrong way. Use ``positions`` as given, and compute the angles in float64 before
    casting ``cos`` and ``sin`` to ``x.dtype``: at positions in the thousands, float32
    angles are already off in the fourth decimal.

    Example:
        rotary_embedding(torch.tensor([[1., 0., 1., 0.]]), torch.tensor([1]))
        ->  [[0.5403, 0.8415, 0.9999, 0.0100]]   (cos 0.01 = 0.99995)
    """
    # BEGIN SOLUTION
    d = x.shape[-1]
    if d % 2 != 0:
        raise ValueError(f"rotary_embedding needs an even feature size d, got d = {d}")
    pair = torch.arange(d // 2, dtype=torch.float64, device=x.device)
    theta = float(base) ** (-2.0 * pair / d)
    angles = positions.to(device=x.device, dtype=torch.float64)[:, None] * theta
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    first, second = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack((first * cos - second * sin, first * sin + second * cos), dim=-1)
    return rotated.flatten(-2)
    # END SOLUTION
