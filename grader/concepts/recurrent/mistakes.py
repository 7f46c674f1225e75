"""Realistic mistakes in recurrent.py (conventions from lectures, Keras, TF1 and ONNX)."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ rnn_cell
    Mutant(
        "recurrent.rnn_cell",
        "forgets bias_hh",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            pre = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                pre = pre + bias_ih
            return torch.tanh(pre)
        """,
    ),
    Mutant(
        "recurrent.rnn_cell",
        "weights not transposed (x @ W, crashes for I != H)",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            pre = x @ weight_ih + h @ weight_hh
            if bias_ih is not None:
                pre = pre + bias_ih
            if bias_hh is not None:
                pre = pre + bias_hh
            return torch.tanh(pre)
        """,
    ),
    Mutant(
        "recurrent.rnn_cell",
        "hidden-to-hidden weight not transposed (h @ W_hh, square so no error)",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            pre = x @ weight_ih.T + h @ weight_hh
            if bias_ih is not None:
                pre = pre + bias_ih
            if bias_hh is not None:
                pre = pre + bias_hh
            return torch.tanh(pre)
        """,
    ),
    Mutant(
        "recurrent.rnn_cell",
        "relu instead of tanh",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            pre = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                pre = pre + bias_ih
            if bias_hh is not None:
                pre = pre + bias_hh
            return torch.relu(pre)
        """,
    ),
    Mutant(
        "recurrent.rnn_cell",
        "adds the biases unconditionally (crashes on None)",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)
        """,
    ),
    Mutant(
        "recurrent.rnn_cell",
        "skips both biases when bias_hh is None",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            pre = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None and bias_hh is not None:
                pre = pre + bias_ih + bias_hh
            return torch.tanh(pre)
        """,
    ),
    Mutant(
        "recurrent.rnn_cell",
        "computes in float32 (.float())",
        """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            pre = x.float() @ weight_ih.float().T + h.float() @ weight_hh.float().T
            if bias_ih is not None:
                pre = pre + bias_ih.float()
            if bias_hh is not None:
                pre = pre + bias_hh.float()
            return torch.tanh(pre)
        """,
    ),
    # ------------------------------------------------------------------ lstm_cell
    Mutant(
        "recurrent.lstm_cell",
        "gate order i, f, o, g (g and o swapped)",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            i, f, o, g = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * c + i * g
            return o * torch.tanh(c_new), c_new
        """,
    ),
    Mutant(
        "recurrent.lstm_cell",
        "ONNX gate order i, o, f, g",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            i, o, f, g = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * c + i * g
            return o * torch.tanh(c_new), c_new
        """,
    ),
    Mutant(
        "recurrent.lstm_cell",
        "gate order f, i, g, o (forget gate first, as on many slides)",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            f, i, g, o = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * c + i * g
            return o * torch.tanh(c_new), c_new
        """,
    ),
    Mutant(
        "recurrent.lstm_cell",
        "returns (c', h') instead of (h', c')",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            i, f, g, o = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * c + i * g
            return c_new, o * torch.tanh(c_new)
        """,
    ),
    Mutant(
        "recurrent.lstm_cell",
        "forget gate applied to h instead of c (c' = f * h + i * g)",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            i, f, g, o = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * h + i * g
            return o * torch.tanh(c_new), c_new
        """,
    ),
    Mutant(
        "recurrent.lstm_cell",
        "no tanh on the cell state (h' = o * c')",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            i, f, g, o = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * c + i * g
            return o * c_new, c_new
        """,
    ),
    Mutant(
        "recurrent.lstm_cell",
        "one fused bias (bias_ih + bias_hh) crashes when a bias is None",
        """
        def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            h, c = state
            gates = x @ weight_ih.T + h @ weight_hh.T + (bias_ih + bias_hh)
            i, f, g, o = gates.chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c_new = f * c + i * g
            return o * torch.tanh(c_new), c_new
        """,
    ),
    # ------------------------------------------------------------------ gru_cell
    Mutant(
        "recurrent.gru_cell",
        "z weights the new state ((1 - z) * h + z * n, lecture convention)",
        """
        def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            gi = x @ weight_ih.T
            gh = h @ weight_hh.T
            if bias_ih is not None:
                gi = gi + bias_ih
            if bias_hh is not None:
                gh = gh + bias_hh
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            return (1 - z) * h + z * n
        """,
    ),
    Mutant(
        "recurrent.gru_cell",
        "reset applied before the matmul (W_hn (r * h) + b_hn)",
        """
        def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            H = h.shape[-1]
            b_ih = bias_ih if bias_ih is not None else torch.zeros(3 * H, dtype=x.dtype, device=x.device)
            b_hh = bias_hh if bias_hh is not None else torch.zeros(3 * H, dtype=x.dtype, device=x.device)
            gi = x @ weight_ih.T + b_ih
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r = h @ weight_hh[:H].T + b_hh[:H]
            h_z = h @ weight_hh[H : 2 * H].T + b_hh[H : 2 * H]
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + (r * h) @ weight_hh[2 * H :].T + b_hh[2 * H :])
            return (1 - z) * n + z * h
        """,
    ),
    Mutant(
        "recurrent.gru_cell",
        "b_hn outside the reset product (r * (W_hn h) + b_hn)",
        """
        def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            H = h.shape[-1]
            gi = x @ weight_ih.T
            gh = h @ weight_hh.T
            if bias_ih is not None:
                gi = gi + bias_ih
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            if bias_hh is not None:
                h_r = h_r + bias_hh[:H]
                h_z = h_z + bias_hh[H : 2 * H]
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n_pre = i_n + r * h_n
            if bias_hh is not None:
                n_pre = n_pre + bias_hh[2 * H :]
            n = torch.tanh(n_pre)
            return (1 - z) * n + z * h
        """,
    ),
    Mutant(
        "recurrent.gru_cell",
        "Keras/ONNX gate order z, r, n",
        """
        def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            gi = x @ weight_ih.T
            gh = h @ weight_hh.T
            if bias_ih is not None:
                gi = gi + bias_ih
            if bias_hh is not None:
                gh = gh + bias_hh
            i_z, i_r, i_n = gi.chunk(3, dim=-1)
            h_z, h_r, h_n = gh.chunk(3, dim=-1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            return (1 - z) * n + z * h
        """,
    ),
    Mutant(
        "recurrent.gru_cell",
        "sums input and hidden parts before chunking (r gates W_in x too)",
        """
        def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            gates = x @ weight_ih.T + h @ weight_hh.T
            if bias_ih is not None:
                gates = gates + bias_ih
            if bias_hh is not None:
                gates = gates + bias_hh
            a_r, a_z, a_n = gates.chunk(3, dim=-1)
            r = torch.sigmoid(a_r)
            z = torch.sigmoid(a_z)
            n = torch.tanh(r * a_n)
            return (1 - z) * n + z * h
        """,
    ),
    Mutant(
        "recurrent.gru_cell",
        "adds the biases unconditionally (crashes on None)",
        """
        def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            gi = x @ weight_ih.T + bias_ih
            gh = h @ weight_hh.T + bias_hh
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            return (1 - z) * n + z * h
        """,
    ),
]
