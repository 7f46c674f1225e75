"""The reference solutions agree with PyTorch, and the stubs are in sync with them.

Sizes are distinct and >= 2 (B=2, several heads, Lq != Lk, non-square images) so that
transposed or swapped axes cannot pass by accident.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.commands.authoring import generate_exercises, strip_solutions
from solutions import (
    attention,
    blocks,
    decoding,
    embeddings,
    feedforward,
    kv_cache,
    lora,
    masks,
    mlm,
    multihead,
    normalization,
    patches,
    positional,
    recurrent,
    sampling,
    vit,
)

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "embeddings",
    "recurrent",
    "attention",
    "masks",
    "multihead",
    "positional",
    "decoding",
    "patches",
    "normalization",
    "feedforward",
    "blocks",
    "kv_cache",
    "lora",
    "vit",
    "sampling",
    "mlm",
]
FUNCTIONS = {
    "embeddings": ["one_hot", "embedding_lookup"],
    "recurrent": ["rnn_cell", "lstm_cell", "gru_cell"],
    "attention": ["softmax", "scaled_dot_product_attention"],
    "masks": ["causal_mask", "padding_mask"],
    "multihead": ["split_heads", "merge_heads", "multi_head_attention"],
    "positional": ["sinusoidal_positional_encoding", "rotary_embedding"],
    "decoding": ["greedy_decode", "beam_search"],
    "patches": ["patchify", "patch_embedding"],
    "normalization": ["layer_norm", "rms_norm"],
    "feedforward": ["gelu", "feed_forward"],
    "blocks": ["encoder_block", "decoder_block"],
    "kv_cache": ["cached_attention"],
    "lora": ["lora_linear", "merge_lora"],
    "vit": ["vit_embed", "vit_classify"],
    "sampling": ["top_k_filter", "top_p_filter", "sample_next_token"],
    "mlm": ["mask_tokens"],
}

f64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def random_mask(*shape: int, seed: int) -> torch.Tensor:
    """Random bool mask (True = attend) with at least one True in every last-axis row."""
    mask = torch.rand(*shape, generator=gen(seed)) < 0.5
    mask[..., 0] |= ~mask.any(-1)
    return mask


# --------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("dtype", [torch.float32, f64, torch.int64])
def test_one_hot_matches_torch(dtype):
    idx = torch.randint(0, 5, (2, 3), generator=gen(0))
    out = embeddings.one_hot(idx, 5, dtype=dtype)
    assert out.dtype == dtype and out.shape == (2, 3, 5)
    assert torch.equal(out.long(), F.one_hot(idx, 5))
    assert embeddings.one_hot(idx, 5).dtype == torch.float32


def test_one_hot_range_checks():
    assert embeddings.one_hot(torch.zeros(0, dtype=torch.long), 3).shape == (0, 3)
    for bad in ([3], [-1], [0, 7]):
        with pytest.raises(ValueError):
            embeddings.one_hot(torch.tensor(bad), 3)


def test_embedding_lookup_matches_torch_and_gradients():
    idx = torch.tensor([[1, 4, 1], [0, 2, 1]])
    weight = randn(5, 3, seed=1).requires_grad_()
    ref_weight = weight.detach().clone().requires_grad_()
    out = embeddings.embedding_lookup(idx, weight)
    ref = F.embedding(idx, ref_weight)
    assert torch.equal(out, ref)
    upstream = randn(2, 3, 3, seed=2)
    (out * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(weight.grad, ref_weight.grad)
    assert torch.equal(embeddings.embedding_lookup(idx.int(), weight), ref)
    assert torch.equal(embeddings.one_hot(idx, 5, dtype=f64) @ weight, ref)
    for bad in ([5], [-1]):
        with pytest.raises(ValueError):
            embeddings.embedding_lookup(torch.tensor(bad), weight)


# ---------------------------------------------------------------------------- recurrent


def _copy_cell(cell: nn.Module, w_ih, w_hh, b_ih, b_hh) -> nn.Module:
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih)
        cell.weight_hh.copy_(w_hh)
        if b_ih is not None:
            cell.bias_ih.copy_(b_ih)
            cell.bias_hh.copy_(b_hh)
    return cell


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cells_match_torch(kind, bias):
    batch, inp, hid = 2, 3, 5
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    x, h, c = randn(batch, inp, seed=3), randn(batch, hid, seed=4), randn(batch, hid, seed=5)
    w_ih, w_hh = randn(gates * hid, inp, seed=6), randn(gates * hid, hid, seed=7)
    b_ih = randn(gates * hid, seed=8) if bias else None
    b_hh = randn(gates * hid, seed=9) if bias else None
    torch_cls = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind]
    cell = _copy_cell(torch_cls(inp, hid, bias=bias).double(), w_ih, w_hh, b_ih, b_hh)
    with torch.no_grad():
        if kind == "lstm":
            ref = cell(x, (h, c))
            out = recurrent.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
        else:
            ref = cell(x, h)
            out = getattr(recurrent, f"{kind}_cell")(x, h, w_ih, w_hh, b_ih, b_hh)
    torch.testing.assert_close(out, ref)


def test_cells_gradcheck():
    x, h, c = randn(2, 3, seed=10), randn(2, 4, seed=11), randn(2, 4, seed=12)
    args = [t.requires_grad_() for t in (x, h, c)]
    w3 = randn(12, 3, seed=13).requires_grad_()
    w4 = randn(12, 4, seed=14).requires_grad_()
    b = randn(12, seed=15).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, h, w_ih, w_hh, b: recurrent.gru_cell(x, h, w_ih, w_hh, b, b),
        (args[0], args[1], w3, w4, b),
    )
    assert torch.autograd.gradcheck(
        lambda x, h, c, w_ih, w_hh: recurrent.lstm_cell(x, (h, c), w_ih[:16], w_hh[:16]),
        (x, h, c, torch.cat([w3, w3[:4]]), torch.cat([w4, w4[:4]])),
    )


# ---------------------------------------------------------------------------- attention


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_matches_torch(dim):
    x = randn(3, 4, 5, seed=20) * 5
    torch.testing.assert_close(attention.softmax(x, dim=dim), torch.softmax(x, dim=dim))
    x32 = x.float()
    out32 = attention.softmax(x32, dim=dim)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, torch.softmax(x32, dim=dim))


def test_softmax_extremes():
    for values in ([1e4, -1e4, 0.0], [3e38, -3e38], [-3e38, -3e38], [1000.0, 1001.0, 1002.0]):
        x = torch.tensor(values)
        out = attention.softmax(x)
        assert torch.isfinite(out).all(), values
        torch.testing.assert_close(out, torch.softmax(x.double(), -1).float())
    out = attention.softmax(torch.tensor([[0.0, float("-inf"), 1.0], [float("-inf")] * 3]))
    assert out[0, 1] == 0 and not torch.isnan(out[0]).any()
    x = randn(2, 5, seed=21, dtype=f64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: attention.softmax(t, dim=0), (x,))


@pytest.mark.parametrize("mask_shape", [None, (4, 5), (2, 1, 1, 5), (2, 3, 4, 5)])
def test_sdpa_matches_torch(mask_shape):
    q, k, v = randn(2, 3, 4, 6, seed=22), randn(2, 3, 5, 6, seed=23), randn(2, 3, 5, 7, seed=24)
    mask = None if mask_shape is None else random_mask(*mask_shape, seed=25)
    out, weights = attention.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    scores = q @ k.transpose(-2, -1) / math.sqrt(6)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
    torch.testing.assert_close(weights, torch.softmax(scores, -1))
    assert out.shape == (2, 3, 4, 7) and weights.shape == (2, 3, 4, 5)


def test_sdpa_float32_broadcast_and_gradcheck():
    q, k, v = randn(4, 6, seed=26), randn(2, 5, 6, seed=27), randn(2, 5, 3, seed=28)
    out, _ = attention.scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert out.dtype == torch.float32 and out.shape == (2, 4, 3)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v).float())
    mask = random_mask(4, 5, seed=29)
    inputs = tuple(t.requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(
        lambda q, k, v: attention.scaled_dot_product_attention(q, k, v, mask), inputs
    )


# -------------------------------------------------------------------------------- masks


@pytest.mark.parametrize("q_len,k_len", [(4, None), (3, 6), (1, 5), (5, 2)])
def test_causal_mask_formula(q_len, k_len):
    mask = masks.causal_mask(q_len, k_len)
    k = q_len if k_len is None else k_len
    expected = torch.tensor([[j <= i + (k - q_len) for j in range(k)] for i in range(q_len)])
    assert mask.dtype == torch.bool and torch.equal(mask, expected.reshape(q_len, k))
    if k_len is None:
        assert torch.equal(mask, torch.ones(q_len, q_len, dtype=torch.bool).tril())


def test_padding_mask():
    expected = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert torch.equal(masks.padding_mask(torch.tensor([2, 4]), 4), expected)
    assert torch.equal(masks.padding_mask([2, 4], 4), expected)
    assert masks.padding_mask(torch.tensor([0, 0, 1]), 3).sum() == 1
    for bad in ([5, 1], [-1, 2]):
        with pytest.raises(ValueError):
            masks.padding_mask(torch.tensor(bad), 4)


# ---------------------------------------------------------------------------- multihead


def test_split_merge_heads():
    x = randn(2, 5, 6, seed=30)
    heads = multihead.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 2)
    for h in range(3):
        assert torch.equal(heads[:, h], x[..., 2 * h : 2 * h + 2])
    assert torch.equal(multihead.merge_heads(heads), x)
    with pytest.raises(ValueError):
        multihead.split_heads(x, 4)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_heads", [2, 3])
@pytest.mark.parametrize("mask_kind", [None, "2d", "4d", "padding"])
def test_multi_head_attention_matches_torch(num_heads, bias, mask_kind):
    batch, lq, lk, d = 2, 3, 5, 6
    query = randn(batch, lq, d, seed=31)
    key, value = randn(batch, lk, d, seed=32), randn(batch, lk, d, seed=33)
    w_q, w_k, w_v, w_o = (randn(d, d, seed=s) / 2 for s in (34, 35, 36, 37))
    b_q, b_k, b_v, b_o = (randn(d, seed=s) if bias else None for s in (38, 39, 40, 41))
    mask = None
    torch_mask = None
    if mask_kind == "2d":
        mask = random_mask(lq, lk, seed=42)
        torch_mask = ~mask
    elif mask_kind in ("4d", "padding"):
        shape = (batch, 1, lq, lk) if mask_kind == "4d" else (batch, 1, 1, lk)
        mask = random_mask(*shape, seed=43)
        full = mask.expand(batch, num_heads, lq, lk)
        torch_mask = ~full.reshape(batch * num_heads, lq, lk)
    mha = nn.MultiheadAttention(d, num_heads, bias=bias, batch_first=True).double().eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w_q, w_k, w_v]))
        mha.out_proj.weight.copy_(w_o)
        if bias:
            mha.in_proj_bias.copy_(torch.cat([b_q, b_k, b_v]))
            mha.out_proj.bias.copy_(b_o)
        ref_out, ref_weights = mha(
            query,
            key,
            value,
            attn_mask=torch_mask,
            need_weights=True,
            average_attn_weights=False,
        )
    out, weights = multihead.multi_head_attention(
        query, key, value, num_heads, w_q, w_k, w_v, w_o, b_q, b_k, b_v, b_o, mask=mask
    )
    assert out.shape == (batch, lq, d) and weights.shape == (batch, num_heads, lq, lk)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(weights, ref_weights)


# --------------------------------------------------------------------------- positional


@pytest.mark.parametrize("d_model", [6, 7])
def test_positional_encoding_formula(d_model):
    seq_len, base = 9, 100.0
    expected = torch.empty(seq_len, d_model, dtype=f64)
    for p in range(seq_len):
        for j in range(d_model):
            w = base ** (-(j - j % 2) / d_model)
            expected[p, j] = math.sin(p * w) if j % 2 == 0 else math.cos(p * w)
    out = positional.sinusoidal_positional_encoding(seq_len, d_model, base=base, dtype=f64)
    assert out.dtype == f64 and out.shape == (seq_len, d_model)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    default = positional.sinusoidal_positional_encoding(seq_len, d_model)
    assert default.dtype == torch.float32
    torch.testing.assert_close(
        default, positional.sinusoidal_positional_encoding(seq_len, d_model, dtype=f64).float()
    )


def test_positional_encoding_float32_accurate_at_large_positions():
    out = positional.sinusoidal_positional_encoding(5000, 16)
    p = 4999
    expected = torch.tensor(
        [
            (math.sin if j % 2 == 0 else math.cos)(p * 10000.0 ** (-(j - j % 2) / 16))
            for j in range(16)
        ]
    )
    torch.testing.assert_close(out[p], expected, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- decoding


def toy_lm(vocab_size: int, seed: int, calls: list | None = None):
    """A prefix-dependent toy language model with fixed, tie-free random log-probs."""
    table: dict[tuple[int, ...], torch.Tensor] = {}

    def step_fn(prefixes: torch.Tensor) -> torch.Tensor:
        assert prefixes.dtype == torch.long and prefixes.dim() == 2
        if calls is not None:
            calls.append(tuple(prefixes.shape))
        rows = []
        for prefix in prefixes.tolist():
            key = tuple(prefix)
            if key not in table:
                g = gen(seed * 1_000_003 + hash(key) % 1_000_003)
                logits = torch.randn(vocab_size, generator=g, dtype=f64) * 2
                table[key] = torch.log_softmax(logits, -1).float()
            rows.append(table[key])
        return torch.stack(rows)

    return step_fn


def sequence_score(step_fn, tokens: list[int]) -> float:
    score = 0.0
    for t in range(1, len(tokens)):
        score += step_fn(torch.tensor([tokens[:t]]))[0, tokens[t]].item()
    return score


@pytest.mark.parametrize("seed", range(12))
def test_beam_width_one_is_greedy(seed):
    step_fn = toy_lm(5, seed)
    greedy = decoding.greedy_decode(step_fn, bos_id=4, eos_id=0, max_new_tokens=6)
    tokens, score = greedy
    assert tokens[0] == 4 and len(tokens) <= 7 and isinstance(score, float)
    assert all(isinstance(t, int) for t in tokens)
    assert score == pytest.approx(sequence_score(step_fn, tokens), abs=1e-9)
    assert decoding.beam_search(step_fn, 4, 0, beam_width=1, max_new_tokens=6) == [greedy]
    assert decoding.beam_search(step_fn, 4, 0, 1, 6, length_penalty=0.7) == [greedy]


def test_beam_search_equals_brute_force_without_eos():
    vocab, steps = 3, 3
    calls: list = []
    step_fn = toy_lm(vocab, 99, calls)
    width = vocab ** (steps - 1)
    result = decoding.beam_search(step_fn, 1, eos_id=vocab, beam_width=width, max_new_tokens=steps)
    # One batched call per step, starting from a single hypothesis.
    assert calls == [(1, 1), (3, 2), (9, 3)]
    scored = []
    for seq in itertools.product(range(vocab), repeat=steps):
        tokens = [1, *seq]
        scored.append((sequence_score(step_fn, tokens), tokens))
    scored.sort(key=lambda item: -item[0])
    assert [tokens for tokens, _ in result] == [tokens for _, tokens in scored[:width]]
    for (_, score), (ref_score, _) in zip(result, scored):
        assert score == pytest.approx(ref_score, abs=1e-9)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_with_eos(length_penalty):
    step_fn = toy_lm(4, 7)
    result = decoding.beam_search(
        step_fn, 3, 0, beam_width=3, max_new_tokens=5, length_penalty=length_penalty
    )
    assert 1 <= len(result) <= 3
    keys = []
    for tokens, score in result:
        assert tokens[0] == 3 and 0 not in tokens[1:-1]
        assert score == pytest.approx(sequence_score(step_fn, tokens), abs=1e-9)
        keys.append(score / (len(tokens) - 1) ** length_penalty)
    assert keys == sorted(keys, reverse=True)
    assert len({tuple(tokens) for tokens, _ in result}) == len(result)


def test_beam_search_length_penalty_changes_the_ranking():
    def step_fn(prefixes: torch.Tensor) -> torch.Tensor:
        rows = [[0.35, 0.45, 0.2] if len(p) == 1 else [0.1, 0.7, 0.2] for p in prefixes.tolist()]
        return torch.tensor(rows, dtype=f64).log()

    raw = decoding.beam_search(step_fn, 2, 0, beam_width=2, max_new_tokens=3)
    assert raw[0] == ([2, 0], pytest.approx(math.log(0.35)))
    normalised = decoding.beam_search(step_fn, 2, 0, 2, 3, length_penalty=1.0)
    assert normalised[0][0] == [2, 1, 1, 1]
    assert normalised[0][1] == pytest.approx(math.log(0.45) + 2 * math.log(0.7))
    assert decoding.beam_search(step_fn, 2, 0, 2, 0) == [([2], 0.0)]
    assert decoding.greedy_decode(step_fn, 2, 0, 0) == ([2], 0.0)


# ------------------------------------------------------------------------------ patches


@pytest.mark.parametrize("bias", [True, False])
def test_patch_embedding_matches_conv2d(bias):
    images = randn(2, 3, 8, 12, seed=50)
    weight = randn(5, 3, 4, 4, seed=51)
    b = randn(5, seed=52) if bias else None
    out = patches.patch_embedding(images, weight, b)
    ref = F.conv2d(images, weight, b, stride=4).flatten(2).transpose(1, 2)
    assert out.shape == (2, 6, 5)
    torch.testing.assert_close(out, ref)
    b32 = None if b is None else b.float()
    out32 = patches.patch_embedding(images.float(), weight.float(), b32)
    assert out32.dtype == torch.float32


def test_patchify_order_and_errors():
    images = randn(2, 3, 4, 6, seed=53)
    out = patches.patchify(images, 2)
    assert out.shape == (2, 6, 12)
    unfolded = F.unfold(images, kernel_size=2, stride=2).transpose(1, 2)
    assert torch.equal(out, unfolded)
    # token n = row * (W / P) + col, flattened as (C, P, P)
    assert torch.equal(out[1, 1 * 3 + 2], images[1, :, 2:4, 4:6].reshape(-1))
    for shape in ((1, 1, 5, 6), (1, 1, 4, 5)):
        with pytest.raises(ValueError):
            patches.patchify(torch.zeros(shape), 2)
        with pytest.raises(ValueError):
            patches.patch_embedding(torch.zeros(shape), torch.zeros(3, 1, 2, 2))


# ----------------------------------------------------------------- stubs and authoring


def test_modules_define_exactly_the_contract_functions():
    on_disk = sorted(p.stem for p in (ROOT / "solutions").glob("*.py") if not p.stem.startswith("_"))
    assert on_disk == sorted(MODULES)
    for name in MODULES:
        module = importlib.import_module(f"solutions.{name}")
        assert sorted(module.__all__) == sorted(FUNCTIONS[name])


def test_exercises_in_sync_with_solutions(tmp_path):
    written = generate_exercises(ROOT / "solutions", tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(["__init__.py"] + [f"{m}.py" for m in MODULES])
    for path in written:
        committed = ROOT / "exercises" / path.name
        assert committed.read_text() == path.read_text(), f"{committed} is out of sync"


@pytest.mark.parametrize("name", MODULES)
def test_every_stub_raises_not_implemented(name):
    stub = importlib.import_module(f"exercises.{name}")
    reference = importlib.import_module(f"solutions.{name}")
    for function in FUNCTIONS[name]:
        stub_fn, ref_fn = getattr(stub, function), getattr(reference, function)
        assert inspect.signature(stub_fn) == inspect.signature(ref_fn)
        assert stub_fn.__doc__ == ref_fn.__doc__ and stub_fn.__doc__
        required = [
            p for p in inspect.signature(stub_fn).parameters.values() if p.default is p.empty
        ]
        with pytest.raises(NotImplementedError, match=f"{name}.{function} is not implemented"):
            stub_fn(*[None] * len(required))


def test_strip_solutions_markers():
    source = (
        "def outer(x):\n"
        '    """Doc."""\n'
        "    def inner(y):\n"
        "        return y\n"
        "    # BEGIN SOLUTION\n"
        "    return inner(x)\n"
        "    # END SOLUTION\n"
        "\n"
        "class A:\n"
        "    def method(self):\n"
        "        return 1  # SOLUTION\n"
    )
    stripped = strip_solutions(source, "mod")
    assert 'raise NotImplementedError("mod.outer is not implemented yet")' in stripped
    assert '        raise NotImplementedError("mod.method is not implemented yet")' in stripped
    assert "return inner(x)" not in stripped and "return 1" not in stripped
    assert "        return y\n" in stripped
    compile(stripped, "<stub>", "exec")
    bad_sources = [
        "def f():\n    # BEGIN SOLUTION\n    pass\n",
        "def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n",
        "def f():\n    # END SOLUTION\n",
        "# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n",
    ]
    for bad in bad_sources:
        with pytest.raises(ValueError):
            strip_solutions(bad, "mod")
