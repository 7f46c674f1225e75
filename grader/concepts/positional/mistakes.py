"""Realistic mistakes in positional.py."""

from grader.author import Mutant

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
    # ------------------------------------------------------------------ rotary_embedding
    Mutant(
        "positional.rotary_embedding",
        "pairs as halves (rotate_half, Hugging Face LLaMA style)",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d))
            freqs = positions.to(torch.float64)[:, None] * inv_freq
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
            x1, x2 = x[..., : d // 2], x[..., d // 2 :]
            rotated = torch.cat((-x2, x1), dim=-1)
            return x * cos + rotated * sin
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "pairs counted from 1 (theta_i = base ** (-2(i + 1) / d))",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(1, d // 2 + 1, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-2 * i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "rotation in the wrong direction (sign of sin swapped)",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-2 * i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos + odd * sin, odd * cos - even * sin), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "theta_i = base ** (-i / d) (exponent without the 2)",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "angles computed in float32 (inv_freq .float()), even for float64 input",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, device=x.device).float() / d))
            angles = positions.float()[:, None] * inv_freq
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "positions ignored (rows rotated by torch.arange(L))",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            p = torch.arange(x.shape[-2], dtype=torch.float64, device=x.device)
            angles = p[:, None] * base ** (-2 * i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "multiplies by cos + sin column by column, without swapping the partners",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-2 * i / d)
            angles = angles.repeat_interleave(2, dim=-1)
            return x * angles.cos().to(x.dtype) + x * angles.sin().to(x.dtype)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "adds the sinusoidal table instead of rotating",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-2 * i / d)
            table = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
            return x + table.to(x.dtype)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "no ValueError for an odd d (a shape error instead)",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-2 * i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "base ignored (hard-coded 10000)",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * 10000.0 ** (-2 * i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
        """,
    ),
    Mutant(
        "positional.rotary_embedding",
        "rotates x in place",
        """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            i = torch.arange(d // 2, dtype=torch.float64, device=x.device)
            angles = positions.to(torch.float64)[:, None] * base ** (-2 * i / d)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            even, odd = x[..., 0::2].clone(), x[..., 1::2].clone()
            with torch.no_grad():
                x[..., 0::2] = even * cos - odd * sin
                x[..., 1::2] = even * sin + odd * cos
            return x
        """,
    ),
]
