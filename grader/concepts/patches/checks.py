"""Checks for patches.patchify and patches.patch_embedding (ViT's first layer)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    StudentRaised,
    exact_mistake,
    exercise,
    expect_close,
    expect_dtype,
    expect_equal,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    in_float64,
    named_mistake,
    strategies as gs,
)
from solutions import patches as ref

POSITION = 8

patchify = exercise("patches.patchify", reference=ref.patchify)
patch_embedding = exercise(
    "patches.patch_embedding", reference=ref.patch_embedding, uses=["patches.patchify"]
)

ORDER_HINT = (
    "reshape to [B, C, H/P, P, W/P, P], permute to [B, H/P, W/P, C, P, P], then reshape to "
    "[B, N, C*P*P]: tokens row by row over the grid (n = i * (W/P) + j), each patch flattened "
    "channel first, then pixel row, then pixel column"
)
EMBED_HINT = (
    "patchify(images, P) @ weight.reshape(D, -1).T + bias, with P = weight.shape[-1]; "
    "or conv2d(images, weight, bias, stride=P).flatten(2).transpose(1, 2)"
)


# ------------------------------------------------------------------------- inputs


@dataclass
class PatchCase:
    """Images of a non-square grid of patches: H = P * grid_h, W = P * grid_w, grid_h != grid_w."""

    images: torch.Tensor
    patch_size: int


@dataclass
class EmbedCase:
    images: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None


def _geometry(draw: st.DrawFn, channels_differ_from_patch: bool = False) -> tuple[int, int, int, int, int]:
    patch = draw(st.integers(2, 4))
    grid_h, grid_w = draw(gs.distinct_sizes(2, 2, 4))
    batch = draw(gs.sizes(2, 3))
    choices = [c for c in (2, 3, 4) if not (channels_differ_from_patch and c == patch)]
    channels = draw(st.sampled_from(choices))
    return batch, channels, grid_h * patch, grid_w * patch, patch


@st.composite
def patch_cases(draw: st.DrawFn, dtypes: tuple[torch.dtype, ...] = gs.FLOAT_DTYPES) -> PatchCase:
    batch, channels, height, width, patch = _geometry(draw)
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(gs.seeds())
    if dtype.is_floating_point:
        images = gs.random_tensor((batch, channels, height, width), seed, dtype)
    else:
        # distinct values, so that every misplaced pixel shows
        images = torch.randperm(batch * channels * height * width, generator=torch.Generator().manual_seed(seed))
        images = images.reshape(batch, channels, height, width).to(dtype)
    return PatchCase(images, patch)


@st.composite
def embed_cases(draw: st.DrawFn, dtypes: tuple[torch.dtype, ...] = gs.FLOAT_DTYPES, with_bias: bool = True) -> EmbedCase:
    # C != P, so that reading the patch size from the wrong axis of the weight shows
    batch, channels, height, width, patch = _geometry(draw, channels_differ_from_patch=True)
    dim = draw(gs.sizes(2, 5))  # N >= 6 > D: [B, D, N] can never pass for [B, N, D]
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(gs.seeds())
    images = gs.random_tensor((batch, channels, height, width), seed, dtype)
    weight = gs.random_tensor((dim, channels, patch, patch), seed + 1, dtype, scale=(channels * patch * patch) ** -0.5)
    bias = gs.random_tensor((dim,), seed + 2, dtype) if with_bias else None
    return EmbedCase(images, weight, bias)


@st.composite
def pixels(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """A pixel (b, c, y, x) as four integers, reduced modulo the image's shape in the check."""
    return tuple(draw(st.integers(0, 10_000)) for _ in range(4))  # type: ignore[return-value]


def _pick_pixel(images: torch.Tensor, where: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return tuple(w % s for w, s in zip(where, images.shape))  # type: ignore[return-value]


# ------------------------------------------------------------------------- helpers


def unpatchify(tokens: torch.Tensor, patch_size: int, channels: int, height: int, width: int) -> torch.Tensor:
    """The inverse of the reference ``patchify``: ``[B, N, C*P*P]`` -> ``[B, C, H, W]``."""
    p = patch_size
    grid_h, grid_w = height // p, width // p
    x = tokens.reshape(tokens.shape[0], grid_h, grid_w, channels, p, p)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(tokens.shape[0], channels, height, width)


def _patchify_mistakes(images: torch.Tensor, p: int) -> list[tuple[torch.Tensor, str]]:
    """What the usual wrong layouts produce, with the explanation a student needs."""
    b, c, h, w = images.shape
    grid_h, grid_w = h // p, w // p
    n = grid_h * grid_w
    x = images.reshape(b, c, grid_h, p, grid_w, p)
    ppc = (
        "each patch is flattened in (P, P, C) order (pixel row, pixel column, channel), as "
        "einops' 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)' in vit-pytorch does; the contract asks for "
        "(C, P, P): all P*P pixels of channel 0, then channel 1, ... (the two agree when C = 1)"
    )
    column = (
        "the patches go column by column over the grid (H and W swapped); tokens go row by row: "
        "token n = i * (W / P) + j for grid row i and column j. A swap of H and W is invisible on "
        "square images"
    )
    return [
        (x.permute(0, 2, 4, 3, 5, 1).reshape(b, n, -1), ppc),
        (x.permute(0, 4, 2, 1, 3, 5).reshape(b, n, -1), column),
        (x.permute(0, 4, 2, 3, 5, 1).reshape(b, n, -1), column + "; also, " + ppc),
        (
            images.reshape(b, n, -1),
            "a reshape alone cuts the image into strips of consecutive memory, not square patches: "
            "reshape to [B, C, H/P, P, W/P, P] and permute to [B, H/P, W/P, C, P, P] before the final reshape",
        ),
    ]


def _diagnose_patchify(got: torch.Tensor, images: torch.Tensor, p: int) -> None:
    explanation = exact_mistake(got, [(message, candidate) for candidate, message in _patchify_mistakes(images, p)])
    if explanation is not None:
        raise CheckFailed(explanation, hint=ORDER_HINT)


def _conv_reference(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    (images, weight, bias), _ = in_float64(images, weight, bias)
    return F.conv2d(images, weight, bias, stride=weight.shape[-1]).flatten(2).transpose(1, 2)


def _diagnose_embedding(got: torch.Tensor, case: EmbedCase) -> None:
    (images, weight, bias), _ = in_float64(case.images, case.weight, case.bias)
    p = weight.shape[-1]
    d = weight.shape[0]
    b, _, h, w = images.shape
    n = (h // p) * (w // p)
    conv = F.conv2d(images, weight, bias, stride=p)  # [B, D, H/P, W/P]
    if tuple(got.shape) == (b, d, n):
        raise CheckFailed(
            f"the output has shape [B, D, N] = {list(got.shape)}, expected [B, N, D] = {[b, n, d]}: "
            "conv2d gives [B, D, H/P, W/P]; after .flatten(2) the tokens are still the last axis, "
            "so finish with .transpose(1, 2)",
            hint=EMBED_HINT,
        )
    if tuple(got.shape) != (b, n, d):
        return
    mistakes = [
        (
            conv.transpose(2, 3).flatten(2).transpose(1, 2),
            "the tokens go column by column over the grid of patches; they must go row by row: "
            "token n = i * (W / P) + j (flatten [B, D, H/P, W/P] as it is, without transposing the "
            "grid). A swap of H and W is invisible on square images",
        ),
        (
            ref.patchify(images, p) @ weight.permute(0, 2, 3, 1).reshape(d, -1).T + (0 if bias is None else bias),
            "the weight is flattened in (P, P, C) order while the patches are in (C, P, P) order "
            "(or the other way round): weight.reshape(D, -1) is already in (C, P, P) order, the "
            "order of patchify; weight.permute(0, 2, 3, 1) belongs to vit-pytorch's (P, P, C) patches",
        ),
        (
            F.conv2d(images, weight, None, stride=p).flatten(2).transpose(1, 2),
            "the output is right up to the bias, which is missing: add bias (shape [D]) to every token",
        ),
    ]
    expected = conv.flatten(2).transpose(1, 2)
    explanation = named_mistake(got, expected, [(m, c) for c, m in mistakes], scale=1.0, dtype=torch.float32)
    if explanation is not None:
        raise CheckFailed(explanation, hint=EMBED_HINT)


# ------------------------------------------------------------------------- patchify


@patchify.check(
    "matches the reference exactly on non-square images (float32 and float64)",
    points=1.5,
    examples=20,
    hint=ORDER_HINT,
    case=patch_cases(),
    edges={"a tall grid (H > W)": lambda case: case.images.shape[2] > case.images.shape[3],
           "a wide grid (W > H)": lambda case: case.images.shape[2] < case.images.shape[3]},
)
def patchify_values(student, case):
    images, p = case.images, case.patch_size
    got = expect_tensor(student(images, p))
    expected = ref.patchify(images, p)
    expect_shape(got, expected.shape, "the patches ([B, N, C*P*P], N = (H/P) * (W/P))")
    expect_dtype(got, images.dtype, "the patches")
    if not torch.equal(got, expected):
        _diagnose_patchify(got, images, p)
    expect_equal(got, expected, what="the patches", hint=ORDER_HINT)


@patchify.check(
    "unpatchify(patchify(x)) gives back x exactly",
    points=1,
    examples=10,
    hint="every pixel must appear exactly once, at token i * (W/P) + j of its patch (i, j) and at "
    "element c*P*P + r*P + s within it; " + ORDER_HINT,
    case=patch_cases(),
)
def patchify_round_trip(student, case):
    images, p = case.images, case.patch_size
    b, c, h, w = images.shape
    got = expect_tensor(student(images, p))
    expect_shape(got, (b, (h // p) * (w // p), c * p * p), "the patches ([B, N, C*P*P])")
    back = unpatchify(got, p, c, h, w)
    if not torch.equal(back, images):
        moved = int((back != images).sum())
        raise CheckFailed(
            f"putting the patches back in place (the inverse of the contract's layout) moves {moved} of "
            f"{images.numel()} pixels: the tokens are not in row-major grid order, or a patch is not "
            "flattened in (C, P, P) order",
        )


@patchify.check(
    "a pixel lands in its own token, at element c*P*P + r*P + s",
    points=1.5,
    examples=12,
    hint="tokens go row by row over the grid: token n = i * (W / P) + j; a swap of H and W is "
    "invisible on square images. Within a token: channel first, then pixel row r, then pixel column s",
    case=patch_cases(dtypes=(torch.float64,)),
    where=pixels(),
)
def patchify_locality(student, case, where):
    images, p = case.images, case.patch_size
    b_, c_, h, w = images.shape
    bi, ci, y, x = _pick_pixel(images, where)
    changed = images.clone()
    changed[bi, ci, y, x] += 10.0
    before = expect_tensor(student(images, p))
    after = expect_tensor(student(changed, p))
    expect_shape(before, (b_, (h // p) * (w // p), c_ * p * p), "the patches ([B, N, C*P*P])")
    expect_shape(after, before.shape, "the patches")
    i, j, r, s = y // p, x // p, y % p, x % p
    token = i * (w // p) + j
    element = ci * p * p + r * p + s
    diff = (after - before) != 0
    places = [tuple(int(v) for v in row) for row in diff.nonzero()]
    if places == [(bi, token, element)]:
        return
    where_text = (
        f"pixel [b={bi}, c={ci}, y={y}, x={x}] lies in patch (i={i}, j={j}) of the {h // p} x {w // p} grid, "
        f"at row r={r}, column s={s} inside it"
    )
    wanted = f"token n = i * (W/P) + j = {i} * {w // p} + {j} = {token}, element c*P*P + r*P + s = {element}"
    if not places:
        raise CheckFailed(f"changing {where_text} changed no output at all; it should change {wanted}")
    shown = ", ".join(f"[{pb}, {pn}, {pe}]" for pb, pn, pe in places[:4]) + (" ..." if len(places) > 4 else "")
    advice = ""
    if len(places) == 1:
        pb, pn, pe = places[0]
        if pn == j * (h // p) + i and pn != token:
            advice = " (that is j * (H/P) + i: your tokens go column by column, H and W are swapped)"
        elif pn == token and pe == (r * p + s) * c_ + ci:
            advice = " (that is (r*P + s)*C + c: the (P, P, C) order of vit-pytorch, not (C, P, P))"
    raise CheckFailed(
        f"changing {where_text} should change exactly one output value, [b, n, e] = [{bi}, {token}, {element}] "
        f"({wanted}); yours changed {len(places)}: {shown}{advice}"
    )


@patchify.check(
    "raises ValueError when H or W is not a multiple of P",
    points=1,
    examples=1,
    hint="check H % P and W % P first and raise ValueError: silently dropping the last rows or "
    "columns (as a plain strided conv or Tensor.unfold does) loses part of the image",
)
def patchify_errors(student):
    images = gs.random_tensor((2, 3, 10, 8), 0)
    with expect_raises(ValueError, "for a 10 x 8 image and P = 4 (H is not a multiple of P)"):
        student(images, 4)
    with expect_raises(ValueError, "for an 8 x 10 image and P = 4 (W is not a multiple of P)"):
        student(images.transpose(2, 3).contiguous(), 4)
    with expect_raises(ValueError, "for a 10 x 8 image and P = 3 (neither is a multiple of P)"):
        student(images, 3)


@patchify.check(
    "gradients flow back to the pixels",
    points=0.5,
    examples=4,
    hint="use torch operations only (reshape, permute); no .detach(), .numpy() or in-place writes "
    "into a new tensor",
    case=patch_cases(),
)
def patchify_gradients(student, case):
    expect_gradients(student, case.images, case.patch_size)


# ------------------------------------------------------------------------- patch_embedding


@patch_embedding.check(
    "equals conv2d(images, weight, bias, stride=P).flatten(2).transpose(1, 2)",
    points=2,
    examples=20,
    hint=EMBED_HINT,
    case=embed_cases(),
    edges={"a tall grid (H > W)": lambda case: case.images.shape[2] > case.images.shape[3],
           "a wide grid (W > H)": lambda case: case.images.shape[2] < case.images.shape[3]},
)
def embedding_values(student, case):
    try:
        got = expect_tensor(student(case.images, case.weight, case.bias))
    except StudentRaised as raised:
        if not raised.is_a(ValueError):
            raise
        _, c, h, w = case.images.shape
        p = case.weight.shape[-1]
        raise CheckFailed(
            f"raised {raised.summary()} for a valid input: the image is {h} x {w}, a whole number of "
            f"{p} x {p} patches (P = weight.shape[-1] = {p}; weight is [D, C, P, P] = {list(case.weight.shape)}, "
            f"so weight.shape[1] = {c} is the number of channels, not P)",
            hint=EMBED_HINT,
        ) from None
    expected = _conv_reference(case.images, case.weight, case.bias)
    try:
        expect_close(got, expected, what="the tokens [B, N, D]")
    except CheckFailed:
        _diagnose_embedding(got, case)
        raise


@patch_embedding.check(
    "a pixel changes only the token of its own patch",
    points=1,
    examples=10,
    hint="tokens go row by row over the grid: token n = i * (W / P) + j; a swap of H and W is "
    "invisible on square images",
    case=embed_cases(dtypes=(torch.float64,)),
    where=pixels(),
)
def embedding_locality(student, case, where):
    images = case.images
    b_, _, h, w = images.shape
    d, p = case.weight.shape[0], case.weight.shape[-1]
    bi, ci, y, x = _pick_pixel(images, where)
    changed = images.clone()
    changed[bi, ci, y, x] += 10.0
    before = expect_tensor(student(images, case.weight, case.bias))
    after = expect_tensor(student(changed, case.weight, case.bias))
    n = (h // p) * (w // p)
    expect_shape(before, (b_, n, d), "the tokens ([B, N, D])")
    expect_shape(after, before.shape, "the tokens")
    i, j = y // p, x // p
    token = i * (w // p) + j
    moved = (after - before).abs().amax(dim=-1) > 1e-6  # [B, N]
    places = [tuple(int(v) for v in row) for row in moved.nonzero()]
    if places == [(bi, token)]:
        return
    where_text = f"pixel [b={bi}, c={ci}, y={y}, x={x}] lies in patch (i={i}, j={j}) of the {h // p} x {w // p} grid"
    shown = ", ".join(f"[{pb}, {pn}]" for pb, pn in places[:4]) + (" ..." if len(places) > 4 else "")
    advice = ""
    if len(places) == 1 and places[0][1] == j * (h // p) + i and places[0][1] != token:
        advice = " (that is j * (H/P) + i: your tokens go column by column, H and W are swapped)"
    raise CheckFailed(
        f"changing {where_text}: only token [b, n] = [{bi}, {token}] (n = i * (W/P) + j = "
        f"{i} * {w // p} + {j}) should change; yours changed {len(places) or 'no'} token(s)"
        + (f": {shown}" if places else "")
        + advice
    )


@patch_embedding.check(
    "works without a bias (bias=None)",
    points=1,
    examples=8,
    hint="`bias=None` means no bias: add it only `if bias is not None`",
    case=embed_cases(with_bias=False),
)
def embedding_no_bias(student, case):
    got = expect_tensor(student(case.images, case.weight, bias=None))
    expected = _conv_reference(case.images, case.weight, None)
    try:
        expect_close(got, expected, what="the tokens [B, N, D] without bias")
    except CheckFailed:
        _diagnose_embedding(got, case)
        raise


@patch_embedding.check(
    "gradients with respect to images, weight and bias",
    points=1,
    examples=4,
    hint="build the result from torch operations on the inputs (no .detach(), no NumPy, no writes into "
    "a tensor made with torch.zeros); every pixel, weight and bias entry is used exactly once per patch",
    case=embed_cases(),
)
def embedding_gradients(student, case):
    expect_gradients(student, case.images, case.weight, case.bias)


@patch_embedding.check(
    "raises ValueError for an image that is not a whole number of patches",
    points=1,
    examples=1,
    hint="read P from weight.shape[-1] and check H % P and W % P (patchify already does): a strided "
    "conv2d silently drops the remainder",
)
def embedding_errors(student):
    weight = gs.random_tensor((5, 3, 4, 4), 1, scale=0.1)
    bias = gs.random_tensor((5,), 2)
    with expect_raises(ValueError, "for a 10 x 8 image and 4 x 4 patches (H is not a multiple of P)"):
        student(gs.random_tensor((2, 3, 10, 8), 0), weight, bias)
    with expect_raises(ValueError, "for an 8 x 10 image and 4 x 4 patches (W is not a multiple of P)"):
        student(gs.random_tensor((2, 3, 8, 10), 0), weight, bias)


@patch_embedding.check(
    "keeps the dtype of the input (float32 and float64)",
    points=0.5,
    examples=1,
    hint="no .float() and no torch.zeros(...) without dtype=images.dtype: the output dtype follows the inputs",
)
def embedding_dtype(student):
    for dtype in (torch.float32, torch.float64):
        images = gs.random_tensor((2, 3, 8, 12), 3, dtype)
        weight = gs.random_tensor((5, 3, 4, 4), 4, dtype, scale=0.1)
        bias = gs.random_tensor((5,), 5, dtype)
        got = expect_tensor(student(images, weight, bias))
        expect_shape(got, (2, 6, 5), "the tokens ([B, N, D])")
        expect_dtype(got, dtype, f"the tokens (for {str(dtype).replace('torch.', '')} inputs)")
