"""Checks for vit.vit_embed and vit.vit_classify (the two ends of a Vision Transformer).

``vit_embed`` builds on ``patches.patch_embedding`` (and ``patches.patchify``), and
``vit_classify`` on ``normalization.layer_norm``: those are declared in ``uses``, so a
mistake there is charged to its own exercise, not here. The oracles are computed in
float64 from torch itself (``F.conv2d``, ``F.layer_norm``) or from the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    StudentRaised,
    exercise,
    expect_close,
    expect_diagnosed,
    expect_dtype,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    in_float64,
    matches,
    named_mistake,
    strategies as gs,
)
from solutions import vit as ref

POSITION = 14

vit_embed = exercise("vit.vit_embed", reference=ref.vit_embed, uses=["patches.patch_embedding", "patches.patchify"])
vit_classify = exercise("vit.vit_classify", reference=ref.vit_classify, uses=["normalization.layer_norm"])

EMBED_HINT = (
    "tokens = patch_embedding(images, patch_weight, patch_bias) ([B, N, D]); put cls_token expanded to "
    "[B, 1, D] in front (torch.cat along dim 1), then add pos_embedding ([N + 1, D]) to all N + 1 rows"
)
CLASSIFY_HINT = (
    "take the class token encoded[:, 0] ([B, D]), layer_norm it with norm_weight, norm_bias and eps, "
    "then logits = normed @ head_weight.T + head_bias"
)


# ============================================================================ vit_embed


@dataclass
class EmbedCase:
    """Images of a non-square grid of patches (2 x 3 or 3 x 2), B >= 2, and the ViT's input parameters."""

    images: torch.Tensor
    patch_weight: torch.Tensor
    patch_bias: torch.Tensor | None
    cls_token: torch.Tensor
    pos_embedding: torch.Tensor

    def args(self) -> tuple:
        return (self.images, self.patch_weight, self.patch_bias, self.cls_token, self.pos_embedding)


@st.composite
def embed_cases(draw, dtypes=gs.FLOAT_DTYPES, bias_none=True):
    batch = draw(gs.sizes(2, 3))
    patch = draw(st.integers(2, 3))
    grid_h, grid_w = draw(gs.distinct_sizes(2, 2, 3))  # both >= 2: a column-major order shows
    channels = draw(st.sampled_from([c for c in (1, 2, 3) if c != patch]))  # C != P: kernel axes told apart
    dim = draw(st.sampled_from([2, 3, 4, 5]))  # N + 1 = 7 != D: a transposed [B, D, N + 1] cannot pass
    dtype = draw(st.sampled_from(dtypes))
    with_bias = draw(st.sampled_from([True, True, True, False])) if bias_none else True
    seed = draw(gs.seeds())
    n = grid_h * grid_w
    tensor = lambda shape, offset, scale=1.0: gs.random_tensor(shape, seed + offset, dtype, scale)  # noqa: E731
    return EmbedCase(
        tensor((batch, channels, grid_h * patch, grid_w * patch), 0),
        tensor((dim, channels, patch, patch), 1, (channels * patch * patch) ** -0.5),
        tensor((dim,), 2, 0.5) if with_bias else None,
        tensor((dim,), 3),
        tensor((n + 1, dim), 4, 0.5),
    )


def _grid(case: EmbedCase) -> tuple[int, int, int]:
    """(P, H/P, W/P) of the case."""
    p = case.patch_weight.shape[-1]
    return p, case.images.shape[-2] // p, case.images.shape[-1] // p


def _embed_reference(case: EmbedCase) -> torch.Tensor:
    args, _ = in_float64(*case.args())
    return ref.vit_embed(*args)


def _parts(case: EmbedCase) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 (patch tokens [B, N, D] from F.conv2d, the same in column-major order, cls [B, 1, D], pos)."""
    (images, weight, bias, cls_token, pos), _ = in_float64(*case.args())
    grid = F.conv2d(images, weight, bias, stride=weight.shape[-1])  # [B, D, H/P, W/P]
    tokens = grid.flatten(2).transpose(1, 2)
    column_major = grid.transpose(2, 3).flatten(2).transpose(1, 2)
    cls = cls_token.expand(images.shape[0], 1, -1)
    return tokens, column_major, cls, pos


def _embed_mistakes(case: EmbedCase) -> list[tuple[str, torch.Tensor]]:
    tokens, column_major, cls, pos = _parts(case)
    n = tokens.shape[1]
    return [
        ("The class token is the last row: it goes first (row 0), so that patch n is row 1 + n",
         torch.cat([tokens, cls], dim=1) + pos),
        ("Row 0 is the class token without pos_embedding[0]: the class token gets a position too, so add "
         "pos_embedding to all N + 1 rows after concatenating",
         torch.cat([cls, tokens + pos[1:]], dim=1)),
        (f"Row 0 misses pos_embedding[0] and the patches got rows 0 .. {n - 1} of pos_embedding: pos_embedding "
         "has N + 1 rows, row 0 for the class token and row 1 + n for patch n",
         torch.cat([cls, tokens + pos[:n]], dim=1)),
        ("pos_embedding is missing: add it to all N + 1 rows", torch.cat([cls, tokens], dim=1)),
        ("The patches go column by column over the grid: patch_embedding's order is row by row "
         "(n = i * (W/P) + j); build on patch_embedding, or flatten the conv output [B, D, H/P, W/P] as it is",
         torch.cat([cls, column_major], dim=1) + pos),
        ("The patch bias is missing: pass patch_bias to patch_embedding",
         _without_bias(case, tokens, cls, pos)),
    ]


def _without_bias(case: EmbedCase, tokens: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    bias = 0.0 if case.patch_bias is None else case.patch_bias.to(torch.float64)
    return torch.cat([cls, tokens - bias], dim=1) + pos


def _diagnose_embed(got, expected: torch.Tensor, case: EmbedCase) -> None:
    """Name the known mistake a failing result matches (a right result is never blamed)."""
    explanation = named_mistake(got, expected, _embed_mistakes(case))
    if explanation is not None:
        raise CheckFailed(f"the output does not match the reference: {explanation}", hint=EMBED_HINT)


def _embedded(student, case: EmbedCase, what: str = "the output") -> torch.Tensor:
    """The student's result for a valid case, with the classic crashes explained."""
    try:
        got = expect_tensor(student(*case.args()), what)
    except StudentRaised as raised:
        p, grid_h, grid_w = _grid(case)
        if raised.is_a(ValueError):
            raise CheckFailed(
                f"raised {raised.summary()} for a valid input: the image is a whole {grid_h} x {grid_w} grid of "
                f"{p} x {p} patches (N = {grid_h * grid_w}) and pos_embedding has N + 1 = {grid_h * grid_w + 1} rows",
                hint=EMBED_HINT,
            ) from None
        if "must match" in raised.message or "Sizes of tensors" in raised.message:
            batch, dim = case.images.shape[0], case.cls_token.shape[0]
            raise CheckFailed(
                f"raised {raised.summary()} with a batch of B = {batch} images: cls_token is one vector [D] for the "
                f"whole batch; expand it to [B, 1, D] = {[batch, 1, dim]} before torch.cat "
                "(cls_token.expand(B, 1, D)): torch.cat does not broadcast",
                hint=EMBED_HINT,
            ) from None
        raise
    b, rows, d = case.images.shape[0], case.pos_embedding.shape[0], case.cls_token.shape[0]
    if tuple(got.shape) == (b, d, rows):
        raise CheckFailed(f"{what} has shape [B, D, N + 1] = {list(got.shape)}, expected [B, N + 1, D] = "
                          f"{[b, rows, d]}: keep the tokens on axis 1 and the features last", hint=EMBED_HINT)
    expect_shape(got, (b, rows, d), f"{what} ([B, N + 1, D])")
    return got


@vit_embed.check(
    "matches the reference: the class token first, then the patches row by row, plus pos_embedding",
    points=2,
    examples=12,
    hint=EMBED_HINT,
    case=embed_cases(),
    edges={"patch_bias=None": lambda case: case.patch_bias is None,
           "a tall grid (H > W)": lambda case: case.images.shape[2] > case.images.shape[3],
           "a wide grid (W > H)": lambda case: case.images.shape[2] < case.images.shape[3]},
)
def embed_values(student, case):
    got = _embedded(student, case)
    expect_dtype(got, case.images.dtype, "the output")
    expected = _embed_reference(case)
    expect_diagnosed(
        lambda: expect_close(got, expected, what="the sequence [B, N + 1, D]", hint=EMBED_HINT),
        lambda: _diagnose_embed(got, expected, case),
    )


@vit_embed.check(
    "row 0 of every image is cls_token + pos_embedding[0], whatever the pixels",
    points=1,
    examples=6,
    hint="the class token goes in front of the patches, the same vector for every image of the batch "
    "(expand it to [B, 1, D]), and it gets pos_embedding[0] like any other row",
    case=embed_cases(bias_none=False),
)
def embed_class_row(student, case):
    got = _embedded(student, case).detach().to(torch.float64)
    cls = case.cls_token.to(torch.float64)
    pos = case.pos_embedding.to(torch.float64)
    wanted = (cls + pos[0]).expand(got.shape[0], -1)
    try:
        expect_close(got[:, 0], wanted, dtype=case.images.dtype,
                     what="row 0 (the class token plus pos_embedding[0], for each image)")
    except CheckFailed as failure:
        found = ""
        if matches(got[:, 0], cls.expand(got.shape[0], -1)):
            found = " Row 0 is cls_token alone: pos_embedding[0] is missing (add pos_embedding to all N + 1 rows)"
        elif matches(got[:, -1], (cls + pos[-1]).expand(got.shape[0], -1)):
            found = " The class token is the last row: it goes first"
        elif matches(got[:, -1], cls.expand(got.shape[0], -1)):
            found = " The class token is the last row, without a position: it goes first, with pos_embedding[0]"
        elif matches(got[:1, 0], wanted[:1]):
            found = (" Only image 0 has the class token: every image of the batch gets the same cls_token "
                     "(expand it to [B, 1, D])")
        raise CheckFailed(failure.message + ("." + found if found else ""), hint=failure.hint,
                          details=failure.details) from None


@dataclass
class PatchChange:
    """Image ``image``'s patch ``(row, col)`` of the grid gets new pixels (all channels)."""

    case: EmbedCase
    image: int
    row: int
    col: int


@st.composite
def patch_changes(draw):
    case = draw(embed_cases(dtypes=(torch.float64,)))
    _, grid_h, grid_w = _grid(case)
    return PatchChange(case, draw(st.integers(0, case.images.shape[0] - 1)), draw(st.integers(0, grid_h - 1)),
                       draw(st.integers(0, grid_w - 1)))


@vit_embed.check(
    "new pixels in one patch change only its own row 1 + n (never row 0, never another image)",
    points=1,
    examples=8,
    hint="row 0 is the class token; patch n (row by row over the grid, n = i * (W/P) + j) is row 1 + n",
    change=patch_changes(),
    edges={"a patch of the last grid row and column":
           lambda change: (change.row, change.col) == tuple(s - 1 for s in _grid(change.case)[1:])},
)
def embed_locality(student, change):
    case = change.case
    p, grid_h, grid_w = _grid(case)
    images = case.images.clone()
    rows = slice(change.row * p, (change.row + 1) * p)
    cols = slice(change.col * p, (change.col + 1) * p)
    images[change.image, :, rows, cols] += 1.0 + gs.random_tensor(images[change.image, :, rows, cols].shape, 7).abs()
    before = _embedded(student, case).detach()
    after = _embedded(student, EmbedCase(images, *case.args()[1:]), "the output for the changed image").detach()
    moved = (after - before).abs().amax(dim=-1) > 1e-9  # [B, N + 1]
    places = [tuple(int(v) for v in where) for where in moved.nonzero()]
    n = change.row * grid_w + change.col
    if places == [(change.image, 1 + n)]:
        return
    patch = (f"patch (i={change.row}, j={change.col}) of image {change.image} in the {grid_h} x {grid_w} grid "
             f"(patch n = i * (W/P) + j = {n})")
    shown = ", ".join(f"[{b}, {r}]" for b, r in places[:4]) + (" ..." if len(places) > 4 else "")
    advice = ""
    if len(places) == 1 and places[0][0] == change.image:
        row = places[0][1]
        if row == n:
            advice = " (that is row n: the class token must come first, so patch n is row 1 + n)"
        elif row == 1 + change.col * grid_h + change.row:
            advice = " (that is 1 + j * (H/P) + i: your patches go column by column; they go row by row)"
        elif row == 0:
            advice = " (row 0 is the class token: it belongs to no patch)"
    raise CheckFailed(
        f"new pixels in {patch} should change only row [b, row] = [{change.image}, {1 + n}] of the output; yours "
        f"changed {len(places) or 'no'} row(s){': ' + shown if places else ''}{advice}"
    )


@vit_embed.check(
    "raises ValueError when pos_embedding does not have N + 1 rows, or for a partial patch",
    points=1,
    examples=1,
    hint="after patch_embedding (which raises for a partial patch), compare pos_embedding.shape[0] with N + 1 "
    "and raise ValueError: N rows would crash with a shape error, and a single row would broadcast silently",
)
def embed_errors(student):
    images = gs.random_tensor((2, 3, 4, 6), 0)  # P = 2: a 2 x 3 grid, N = 6
    weight = gs.random_tensor((4, 3, 2, 2), 1, scale=0.3)
    bias, cls = gs.random_tensor((4,), 2), gs.random_tensor((4,), 3)
    for rows, why in ((6, "N rows (no row for the class token)"), (8, "N + 2 rows"),
                      (1, "a single row (it would broadcast)")):
        with expect_raises(ValueError, f"for a pos_embedding of {why}: N = 6 patches need N + 1 = 7 rows"):
            student(images, weight, bias, cls, gs.random_tensor((rows, 4), 4))
    with expect_raises(ValueError, "for a 5 x 6 image and 2 x 2 patches (H is not a multiple of P)"):
        student(gs.random_tensor((2, 3, 5, 6), 5), weight, bias, cls, gs.random_tensor((7, 4), 4))


@vit_embed.check(
    "has the right gradients with respect to images, patch_weight, patch_bias, cls_token and pos_embedding",
    points=1,
    examples=3,
    hint="use torch operations only (cat, expand, +): no .detach(), no torch.tensor(cls_token), no writes into a "
    "tensor made with torch.zeros; the class token's gradient is the sum over the batch of row 0's",
    case=embed_cases(dtypes=(torch.float64,), bias_none=False),
)
def embed_gradients(student, case):
    expect_gradients(student, *case.args())


@vit_embed.check(
    "keeps the dtype of the inputs (float32 and float64)",
    points=0.5,
    examples=1,
    hint="no .float() and no torch.zeros(...) without dtype=images.dtype: the output dtype follows the inputs",
)
def embed_dtype(student):
    for dtype in (torch.float32, torch.float64):
        case = EmbedCase(gs.random_tensor((2, 2, 4, 6), 0, dtype), gs.random_tensor((3, 2, 2, 2), 1, dtype, 0.3),
                         gs.random_tensor((3,), 2, dtype), gs.random_tensor((3,), 3, dtype),
                         gs.random_tensor((7, 3), 4, dtype))
        name = str(dtype).replace("torch.", "")
        got = _embedded(student, case, f"the output for {name} inputs")
        expect_dtype(got, dtype, f"the output (for {name} inputs)")


# ============================================================================ vit_classify


@dataclass
class ClassifyCase:
    """``encoded`` is ``[B, N + 1, D]`` (N + 1 >= 3), ``head_weight`` is ``[K, D]`` with ``K != D``."""

    encoded: torch.Tensor
    norm_weight: torch.Tensor
    norm_bias: torch.Tensor
    head_weight: torch.Tensor
    head_bias: torch.Tensor | None
    eps: float | None = None  # None: the default, not passed

    def args(self) -> tuple:
        return (self.encoded, self.norm_weight, self.norm_bias, self.head_weight, self.head_bias)

    def kwargs(self) -> dict:
        return {} if self.eps is None else {"eps": self.eps}


@st.composite
def classify_cases(draw, dtypes=gs.FLOAT_DTYPES, eps_values=(None, None, 1e-6, 0.1), with_bias=True):
    batch = draw(gs.sizes(2, 3))
    tokens = draw(st.integers(3, 6))
    dim, classes = draw(gs.distinct_sizes(2, 3, 6))
    dtype = draw(st.sampled_from(dtypes))
    eps = draw(st.sampled_from(eps_values))
    seed = draw(gs.seeds())
    tensor = lambda shape, offset, scale=1.0: gs.random_tensor(shape, seed + offset, dtype, scale)  # noqa: E731
    # rows of very different means and spreads, so that a missing or misplaced norm shows
    spread = 0.5 + 2 * gs.random_tensor((batch, tokens, 1), seed + 6, dtype).abs()
    encoded = tensor((batch, tokens, dim), 0) * spread + tensor((batch, tokens, 1), 5, 3.0)
    return ClassifyCase(
        encoded,
        1.0 + tensor((dim,), 1, 0.5),
        tensor((dim,), 2, 0.5),
        tensor((classes, dim), 3, 1 / math.sqrt(dim)),
        tensor((classes,), 4, 0.5) if with_bias else None,
        eps,
    )


def _classify_reference(case: ClassifyCase, **changes) -> torch.Tensor:
    args, kwargs = in_float64(*case.args(), **case.kwargs())
    kwargs.update(changes)
    return ref.vit_classify(*args, **kwargs)


def _classify_mistakes(case: ClassifyCase) -> list[tuple[str, torch.Tensor]]:
    (encoded, weight, bias, head_weight, head_bias), _ = in_float64(*case.args())
    eps = 1e-5 if case.eps is None else case.eps
    head_bias = 0.0 if head_bias is None else head_bias
    dim = encoded.shape[-1]

    def head(state: torch.Tensor, normalise: bool = True, eps: float = eps) -> torch.Tensor:
        if normalise:
            state = F.layer_norm(state, (dim,), weight, bias, eps)
        return state @ head_weight.T + head_bias

    found = [
        ("It matches the mean over all tokens (mean pooling): a ViT reads the class token encoded[:, 0] only",
         head(encoded.mean(dim=1))),
        ("It matches the mean over the patch tokens encoded[:, 1:] (mean pooling): a ViT reads the class token "
         "encoded[:, 0] only", head(encoded[:, 1:].mean(dim=1))),
        ("It matches the last token encoded[:, -1]: the class token is the first one, encoded[:, 0]",
         head(encoded[:, -1])),
        ("It matches the head applied without the layer norm: normalise encoded[:, 0] with norm_weight, norm_bias "
         "and eps first", head(encoded[:, 0], normalise=False)),
        ("It matches a layer norm without its weight and bias: layer_norm(..., norm_weight, norm_bias, eps)",
         F.layer_norm(encoded[:, 0], (dim,), None, None, eps) @ head_weight.T + head_bias),
        ("It matches the head without head_bias: add head_bias", head(encoded[:, 0]) - head_bias),
    ]
    if case.eps is not None:
        found.append((f"It matches the layer norm with eps = 1e-5 instead of the eps given ({case.eps:g}): pass eps "
                      "on to layer_norm", head(encoded[:, 0], eps=1e-5)))
    return found


def _diagnose_classify(got, expected: torch.Tensor, case: ClassifyCase) -> None:
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return
    explanation = named_mistake(got, expected, _classify_mistakes(case))
    if explanation is not None:
        raise CheckFailed(f"the scores do not match the reference: {explanation}", hint=CLASSIFY_HINT)


def _classified(student, case: ClassifyCase, what: str = "the scores", **overrides) -> torch.Tensor:
    """The student's scores ``[B, K]``, with the classic crashes explained."""
    args = list(case.args())
    for index, name in enumerate(("encoded", "norm_weight", "norm_bias", "head_weight", "head_bias")):
        if name in overrides:
            args[index] = overrides[name]
    try:
        got = expect_tensor(student(*args, **case.kwargs()), what)
    except StudentRaised as raised:
        classes, dim = case.head_weight.shape
        if "cannot be multiplied" in raised.message:
            raise CheckFailed(
                f"raised {raised.summary()}: head_weight is [K, D] = {[classes, dim]} (nn.Linear layout), so the "
                "class token's [B, D] vector is multiplied by head_weight.T",
                hint=CLASSIFY_HINT,
            ) from None
        if "normalized_shape" in raised.message or "must match the size" in raised.message:
            raise CheckFailed(
                f"raised {raised.summary()}: the layer norm runs over the D = {dim} features of the class token, "
                f"before the head; after the head there are K = {classes} scores, and norm_weight has D entries",
                hint=CLASSIFY_HINT,
            ) from None
        raise
    expect_shape(got, (case.encoded.shape[0], case.head_weight.shape[0]), f"{what} ([B, K])")
    return got


@vit_classify.check(
    "matches the reference: layer_norm(encoded[:, 0], eps) @ head_weight.T + head_bias, K != D",
    points=2,
    examples=12,
    hint=CLASSIFY_HINT,
    case=classify_cases(),
    edges={"an eps other than the default": lambda case: case.eps is not None},
)
def classify_values(student, case):
    got = _classified(student, case)
    expect_dtype(got, case.encoded.dtype, "the scores")
    expected = _classify_reference(case)
    expect_diagnosed(
        lambda: expect_close(got, expected, what="the scores [B, K]", hint=CLASSIFY_HINT),
        lambda: _diagnose_classify(got, expected, case),
    )


@vit_classify.check(
    "reads only the class token: other rows of encoded change nothing, row 0 changes the scores",
    points=1,
    examples=6,
    hint="the head reads encoded[:, 0], the class token's final state; averaging the tokens (mean pooling) or "
    "reading the last one is another model",
    case=classify_cases(eps_values=(None,)),
)
def classify_reads_class_token(student, case):
    before = _classified(student, case).detach().to(torch.float64)
    others = case.encoded.clone()
    others[:, 1:] = gs.random_tensor(others[:, 1:].shape, 11, others.dtype, 3.0)
    after = _classified(student, case, "the scores once rows 1.. of encoded changed", encoded=others)
    try:
        expect_close(after, before, what="the scores once rows 1 .. N of encoded changed (compared with before)",
                     dtype=case.encoded.dtype)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure.message}: the scores must depend on the class token encoded[:, 0] only",
                          hint=failure.hint, details=failure.details) from None
    first = case.encoded.clone()
    first[:, 0] = gs.random_tensor(first[:, 0].shape, 12, first.dtype, 3.0)
    changed = _classified(student, case, "the scores once row 0 of encoded changed", encoded=first)
    gap = (changed.detach().to(torch.float64) - before).abs().amax(dim=-1)
    if bool((gap <= 1e-6).any()):
        b = int((gap <= 1e-6).nonzero()[0])
        raise CheckFailed(f"new values in row 0 of image {b} (its class token encoded[{b}, 0]) did not change its "
                          "scores: the head must read encoded[:, 0]")


@vit_classify.check(
    "honours eps (eps = 0.5 and 2.0 on rows of small spread)",
    points=0.5,
    examples=4,
    hint="pass eps on to the layer norm: sqrt(var + eps), eps inside the square root",
    case=classify_cases(eps_values=(0.5, 2.0)),
)
def classify_eps(student, case):
    quiet = case.encoded * 0.3
    small = ClassifyCase(quiet, *case.args()[1:], eps=case.eps)
    got = _classified(student, small)
    expected = _classify_reference(small)
    expect_diagnosed(
        lambda: expect_close(got, expected, what=f"the scores with eps = {case.eps:g}", hint=CLASSIFY_HINT),
        lambda: _diagnose_classify(got, expected, small),
    )


@vit_classify.check(
    "works without a head bias (head_bias=None)",
    points=0.5,
    examples=3,
    hint="a bias given as None means no bias: add head_bias only `if head_bias is not None`",
    case=classify_cases(with_bias=False),
)
def classify_no_bias(student, case):
    # compared with the student's own scores for a zero bias: a mistake in the formula is the other checks' business
    zero = torch.zeros(case.head_weight.shape[0], dtype=case.head_weight.dtype)
    with_zero = _classified(student, case, "the scores with head_bias = zeros", head_bias=zero)
    got = _classified(student, case, "the scores with head_bias=None")
    expect_close(got, with_zero.detach().to(torch.float64), dtype=case.encoded.dtype,
                 what="the scores with head_bias=None (compared with your scores for head_bias = zeros)",
                 hint="a bias given as None means no bias: add head_bias only `if head_bias is not None`")


@vit_classify.check(
    "has the right gradients with respect to encoded, the norm's and the head's weights and biases",
    points=1,
    examples=3,
    hint="use torch operations only: no .detach(), no NumPy, no in-place writes; rows 1 .. N of encoded get "
    "a zero gradient",
    case=classify_cases(dtypes=(torch.float64,), eps_values=(None,)),
)
def classify_gradients(student, case):
    expect_gradients(student, *case.args(), **case.kwargs())


@vit_classify.check(
    "keeps the dtype of the inputs (float32 and float64)",
    points=0.5,
    examples=1,
    hint="no .float() and no hard-coded dtype: the scores follow the dtype of encoded",
)
def classify_dtype(student):
    for dtype in (torch.float32, torch.float64):
        case = ClassifyCase(gs.random_tensor((2, 4, 5), 0, dtype), gs.random_tensor((5,), 1, dtype) + 1,
                            gs.random_tensor((5,), 2, dtype), gs.random_tensor((3, 5), 3, dtype, 0.5),
                            gs.random_tensor((3,), 4, dtype))
        name = str(dtype).replace("torch.", "")
        got = _classified(student, case, f"the scores for {name} inputs")
        expect_dtype(got, dtype, f"the scores (for {name} inputs)")
