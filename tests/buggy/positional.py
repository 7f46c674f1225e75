"""Realistic mistakes in positional.py."""

from grader.mistakes import Mutant

MUTANTS = [
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "concatenated [sin | cos] halves (tensor2tensor layout)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None]
            pairs = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)
            angles = positions * base ** (-pairs / d_model)
            table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)[:, :d_model]
            return table.to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "sin and cos swapped (cos in even columns)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None]
            cols = torch.arange(d_model, device=device)
            angles = positions * base ** (-(cols - cols % 2).double() / d_model)
            return torch.where(cols % 2 == 0, torch.cos(angles), torch.sin(angles)).to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "exponent uses j instead of j - j % 2",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None]
            cols = torch.arange(d_model, device=device)
            angles = positions * base ** (-cols.double() / d_model)
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "angles computed in float16, then cast",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float16, device=device)[:, None]
            cols = torch.arange(d_model, device=device)
            freqs = (base ** (-(cols - cols % 2).double() / d_model)).half()
            angles = (positions * freqs).float()
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "positions in bfloat16 (integers above 256 rounded)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, device=device).to(torch.bfloat16).double()[:, None]
            cols = torch.arange(d_model, device=device)
            angles = positions * base ** (-(cols - cols % 2).double() / d_model)
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "dtype ignored (always float32)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None]
            cols = torch.arange(d_model, device=device)
            angles = positions * base ** (-(cols - cols % 2).double() / d_model)
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).float()
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "computed in float32 even when float64 is asked for",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            import math
            pe = torch.zeros(seq_len, d_model, device=device)
            position = torch.arange(0, seq_len, device=device).unsqueeze(1).float()
            div_term = torch.exp(torch.arange(0, d_model, 2, device=device).float() * -(math.log(base) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term[: d_model // 2])
            return pe.to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "off-by-one positions (1 .. seq_len)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(1, seq_len + 1, dtype=torch.float64, device=device)[:, None]
            cols = torch.arange(d_model, device=device)
            angles = positions * base ** (-(cols - cols % 2).double() / d_model)
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "base ignored (hard-coded 10000)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None]
            cols = torch.arange(d_model, device=device)
            angles = positions * 10000.0 ** (-(cols - cols % 2).double() / d_model)
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "odd d_model crashes (annotated-transformer slicing)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            import math
            pe = torch.zeros(seq_len, d_model, dtype=torch.float64, device=device)
            position = torch.arange(0, seq_len, dtype=torch.float64, device=device).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64, device=device) * -(math.log(base) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            return pe.to(dtype)
        """,
    ),
    Mutant(
        "positional.sinusoidal_positional_encoding",
        "ignores its device argument (always on the CPU)",
        """
        def sinusoidal_positional_encoding(seq_len, d_model, base=10000.0, dtype=torch.float32, device=None):
            positions = torch.arange(seq_len, dtype=torch.float64)[:, None]
            cols = torch.arange(d_model)
            angles = positions * base ** (-(cols - cols % 2).double() / d_model)
            return torch.where(cols % 2 == 0, torch.sin(angles), torch.cos(angles)).to(dtype)
        """,
    ),
]
