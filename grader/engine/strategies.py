"""Shared hypothesis strategies for tensor checks (course-agnostic).

Sizes default to at least 2 so that transposes, broadcasting and axis mix-ups are
visible (with a size of 1, many wrong layouts give the right numbers). Tensor values
come from a seeded generator, so an example is small to describe and cheap to draw;
hypothesis still shrinks the shapes to the smallest failing case.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator, Sequence

import torch
from hypothesis import strategies as st

FLOAT_DTYPES = (torch.float32, torch.float64)


def sizes(min_size: int = 2, max_size: int = 5) -> st.SearchStrategy[int]:
    return st.integers(min_size, max_size)


def distinct_sizes(count: int, min_size: int = 2, max_size: int = 6) -> st.SearchStrategy[tuple[int, ...]]:
    """``count`` different sizes, so that no two axes can be confused."""
    if max_size - min_size + 1 < count:
        raise ValueError("range too small for distinct sizes")
    return st.lists(st.integers(min_size, max_size), min_size=count, max_size=count, unique=True).map(tuple)


def shapes(min_dims: int = 1, max_dims: int = 3, min_size: int = 2, max_size: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(min_size, max_size), min_size=min_dims, max_size=max_dims).map(tuple)


def float_dtypes() -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(FLOAT_DTYPES)


def seeds() -> st.SearchStrategy[int]:
    """A seed to build tensors from, mixed with the secret of the draw in progress (see
    :func:`salted`): where hypothesis makes the same choices in the public and the official
    draw (its very first example, say), the tensors still differ."""
    return st.integers(0, 2**16).map(_salted)


_SALT: list[bytes | None] = []


@contextlib.contextmanager
def salted(secret: bytes | None) -> Iterator[None]:
    """Seeds drawn meanwhile are mixed with ``secret`` (None: left as drawn, the public draw)."""
    _SALT.append(secret)
    try:
        yield
    finally:
        _SALT.pop()


def _salted(seed: int) -> int:
    secret = _SALT[-1] if _SALT else None
    if secret is None:
        return seed
    return int.from_bytes(hashlib.sha256(secret + seed.to_bytes(8, "big")).digest()[:4], "big") & 0x7FFFFFFF


def random_tensor(shape: Sequence[int], seed: int, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    """Standard-normal values times ``scale``, drawn in float64 then cast (reproducible)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(tuple(shape), generator=generator, dtype=torch.float64) * scale).to(dtype)


def random_ints(shape: Sequence[int], seed: int, low: int, high: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, tuple(shape), generator=generator)


@st.composite
def tensors(
    draw: st.DrawFn,
    shape: st.SearchStrategy[tuple[int, ...]] | Sequence[int] | None = None,
    dtype: st.SearchStrategy[torch.dtype] | torch.dtype = torch.float32,
    scale: float = 1.0,
) -> torch.Tensor:
    """A float tensor of a drawn (or given) shape and dtype."""
    if shape is None:
        shape = shapes()
    chosen_shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    chosen_dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    return random_tensor(chosen_shape, draw(seeds()), chosen_dtype, scale)


def random_permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def bool_masks(shape: Sequence[int], seed: int, p_true: float = 0.6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=generator) < p_true
