"""Realistic mistakes in masks.py."""

from grader.author import Mutant

MUTANTS = [
    Mutant(
        "masks.causal_mask",
        "top-left aligned when k_len > q_len (plain tril)",
        """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()
        """,
    ),
    Mutant(
        "masks.causal_mask",
        "inverted polarity (True = blocked, as nn.MultiheadAttention)",
        """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).triu(1 + k_len - q_len)
        """,
    ),
    Mutant(
        "masks.causal_mask",
        "diagonal excluded",
        """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len - 1)
        """,
    ),
    Mutant(
        "masks.padding_mask",
        "off by one (<= length)",
        """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            if (lengths < 0).any() or (lengths > max_len).any():
                raise ValueError("bad length")
            return torch.arange(max_len, device=lengths.device)[None, :] <= lengths[:, None]
        """,
    ),
    Mutant(
        "masks.padding_mask",
        "no range validation",
        """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
        """,
    ),
    Mutant(
        "masks.padding_mask",
        "returns a float 0/1 mask",
        """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            if (lengths < 0).any() or (lengths > max_len).any():
                raise ValueError("bad length")
            return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]).float()
        """,
    ),
    Mutant(
        "masks.causal_mask",
        "offset with the wrong sign (q_len - k_len)",
        """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(q_len - k_len)
        """,
    ),
    Mutant(
        "masks.padding_mask",
        "transposed: [max_len, B]",
        """
        def padding_mask(lengths, max_len):
            lengths = torch.as_tensor(lengths)
            if (lengths < 0).any() or (lengths > max_len).any():
                raise ValueError("bad length")
            return torch.arange(max_len, device=lengths.device)[:, None] < lengths[None, :]
        """,
    ),
    Mutant(
        "masks.causal_mask",
        "ignores its device argument (always on the CPU)",
        """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            return torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)
        """,
    ),
]
