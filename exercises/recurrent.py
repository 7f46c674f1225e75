"""Recurrent cells: one time step of a vanilla RNN, an LSTM and a GRU.

Before transformers, a sequence was read one token at a time: a hidden state ``h`` carries
everything seen so far and a cell updates it from ``(x_t, h_{t-1})``. Gates (LSTM, GRU)
ease the vanishing gradients of the plain RNN; attention later removed the recurrence.
Layouts are those of ``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``: ``x`` ``[B, I]``,
states ``[B, H]``, weights ``[out, in]`` applied as ``x @ W.T + b``.

## One cell, unrolled over time

You write the cell; a loop over the time steps (not part of the exercises) makes it a
recurrent network. The same weights are used at every step:

```
          x_1          x_2          x_3
           |            |            |
  h_0 --> [cell] -h_1-> [cell] -h_2-> [cell] --> h_3
```

## Shapes

| argument                 | RNN       | LSTM       | GRU        |
|--------------------------|-----------|------------|------------|
| `x`                      | `[B, I]`  | `[B, I]`   | `[B, I]`   |
| state                    | `h` `[B, H]` | `(h, c)`, each `[B, H]` | `h` `[B, H]` |
| `weight_ih`              | `[H, I]`  | `[4H, I]`  | `[3H, I]`  |
| `weight_hh`              | `[H, H]`  | `[4H, H]`  | `[3H, H]`  |
| `bias_ih`, `bias_hh`     | `[H]`     | `[4H]`     | `[3H]`     |
| gate rows, in order      | -         | `i, f, g, o` | `r, z, n` |

Row block `[0:H]` of `weight_ih` belongs to the first gate, `[H:2H]` to the second,
and so on (the same blocks in `weight_hh` and the biases).

## The equations

`σ` is the sigmoid, `*` is element-wise, and `W_ii x` is short for `x @ W_ii.T` with
`W_ii` the input gate's block of `weight_ih`.

```
RNN:   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

LSTM:  i  = σ(W_ii x + b_ii + W_hi h + b_hi)     input gate: how much to write
       f  = σ(W_if x + b_if + W_hf h + b_hf)     forget gate: how much to keep
       g  = tanh(W_ig x + b_ig + W_hg h + b_hg)  candidate memory
       o  = σ(W_io x + b_io + W_ho h + b_ho)     output gate: how much to show
       c' = f * c + i * g
       h' = o * tanh(c')

GRU:   r  = σ(W_ir x + b_ir + W_hr h + b_hr)     reset gate
       z  = σ(W_iz x + b_iz + W_hz h + b_hz)     update gate
       n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
       h' = (1 - z) * n + z * h
```

Sanity checks you can run yourself: with all weights and biases zero, the RNN gives
`h' = 0`, the GRU gives `h' = h / 2`, and the LSTM gives `c' = c / 2`.
"""

from __future__ import annotations

import torch

__all__ = ["rnn_cell", "lstm_cell", "gru_cell"]


def rnn_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> torch.Tensor:
    """One step of a vanilla (Elman) RNN with tanh, like ``torch.nn.RNNCell``.

    Args:
        x: input ``[B, I]``.
        h: previous hidden state ``[B, H]``.
        weight_ih: ``[H, I]``. weight_hh: ``[H, H]``.
        bias_ih, bias_hh: ``[H]`` each, or ``None`` for no bias.

    Returns:
        The new hidden state ``h'`` ``[B, H]``, with the dtype and device of ``x``.

    Formula: ``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)``.

    Intuition: the new state mixes the current input with a summary of the past, and
    tanh keeps every entry in ``(-1, 1)``.

    Pitfall: weights are stored ``[out, in]`` as in ``nn.Linear``, so multiply by the
    transpose (``x @ W.T``). ``W @ x`` only happens to work when the matrix is square.
    There are two biases; a ``None`` bias is simply skipped, not replaced by zeros of
    the wrong shape.
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("recurrent.rnn_cell is not implemented yet")


def lstm_cell(
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of an LSTM, like ``torch.nn.LSTMCell``.

    Args:
        x: input ``[B, I]``.
        state: ``(h, c)``, the previous hidden and cell states, each ``[B, H]``.
        weight_ih: ``[4H, I]``. weight_hh: ``[4H, H]``.
        bias_ih, bias_hh: ``[4H]`` each, or ``None``.

    Returns:
        ``(h', c')``, each ``[B, H]``.

    Formula (the 4H pre-activations split into four chunks of H, in this order):
        i, f, g, o = chunks of  x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
        c' = f * c + i * g;   h' = o * tanh(c')

    Intuition: the cell state ``c`` acts as a conveyor belt of long-term memory. The
    forget gate decides what to keep, the input gate decides what to write, and the
    output gate decides how much of the memory to show as ``h'``.

    Pitfall: the gate order is input, forget, cell (g), output, as in PyTorch. Keras,
    TF1 and ONNX use other orders, and so do some lecture slides, which list f, i, o
    first. Chunk along the feature axis (the last one), not the batch axis.
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("recurrent.lstm_cell is not implemented yet")


def gru_cell(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> torch.Tensor:
    """One step of a GRU, like ``torch.nn.GRUCell``.

    Args:
        x: input ``[B, I]``.
        h: previous hidden state ``[B, H]``.
        weight_ih: ``[3H, I]``. weight_hh: ``[3H, H]``. Chunks in order reset, update, new.
        bias_ih, bias_hh: ``[3H]`` each, or ``None``.

    Returns:
        The new hidden state ``h'`` ``[B, H]``.

    Formula (``W_ir`` = first H rows of ``weight_ih``, and so on):
        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Intuition: a lighter LSTM with no separate cell state. ``z`` interpolates between
    keeping the old state and taking the candidate ``n``. ``r`` decides how much of
    the past the candidate may use.

    Pitfall: in PyTorch ``z`` weights the OLD state (``z -> 1`` keeps ``h``). Several
    textbooks write ``(1 - z) * h + z * n`` instead. The reset gate multiplies
    ``W_hn h + b_hn`` (after the matmul, bias included), not ``h`` before it.
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("recurrent.gru_cell is not implemented yet")
