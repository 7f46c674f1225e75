"""Realistic mistakes in feedforward.py."""

from grader.author import Mutant

MUTANTS = [
    # -------------------------------------------------------------- gelu
    Mutant(
        "feedforward.gelu",
        "tanh formula for the exact form too",
        """
        def gelu(x, approximate="none"):
            if approximate not in ("none", "tanh"):
                raise ValueError(approximate)
            return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "ignores approximate (always exact)",
        """
        def gelu(x, approximate="none"):
            if approximate not in ("none", "tanh"):
                raise ValueError(approximate)
            return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "sigmoid approximation x * sigmoid(1.702 x)",
        """
        def gelu(x, approximate="none"):
            if approximate == "none":
                return x * torch.sigmoid(1.702 * x)
            if approximate == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            raise ValueError(approximate)
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "sqrt(2 * pi) in the tanh form",
        """
        def gelu(x, approximate="none"):
            if approximate == "none":
                return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
            if approximate == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 * math.pi) * (x + 0.044715 * x ** 3)))
            raise ValueError(approximate)
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "tanh form without the cube",
        """
        def gelu(x, approximate="none"):
            if approximate == "none":
                return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
            if approximate == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x)))
            raise ValueError(approximate)
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "no ValueError: anything but 'tanh' is exact",
        """
        def gelu(x, approximate="none"):
            if approximate == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "erf(x) without dividing by sqrt(2)",
        """
        def gelu(x, approximate="none"):
            if approximate == "none":
                return 0.5 * x * (1 + torch.erf(x))
            if approximate == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            raise ValueError(approximate)
        """,
    ),
    Mutant(
        "feedforward.gelu",
        "math.erf through Python floats (no autograd)",
        """
        def gelu(x, approximate="none"):
            if approximate == "none":
                values = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.flatten().tolist()]
                return torch.tensor(values, dtype=x.dtype, device=x.device).reshape(x.shape)
            if approximate == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            raise ValueError(approximate)
        """,
    ),
    # -------------------------------------------------------------- feed_forward
    Mutant(
        "feedforward.feed_forward",
        "activation after the second layer",
        """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation not in ("relu", "gelu"):
                raise ValueError(activation)
            h = x @ w_1.T
            if b_1 is not None:
                h = h + b_1
            out = h @ w_2.T
            if b_2 is not None:
                out = out + b_2
            return torch.relu(out) if activation == "relu" else gelu(out)
        """,
    ),
    Mutant(
        "feedforward.feed_forward",
        "GELU's tanh approximation for 'gelu'",
        """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation not in ("relu", "gelu"):
                raise ValueError(activation)
            h = x @ w_1.T
            if b_1 is not None:
                h = h + b_1
            h = torch.relu(h) if activation == "relu" else gelu(h, approximate="tanh")
            out = h @ w_2.T
            if b_2 is not None:
                out = out + b_2
            return out
        """,
    ),
    Mutant(
        "feedforward.feed_forward",
        "ignores the biases",
        """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation not in ("relu", "gelu"):
                raise ValueError(activation)
            h = x @ w_1.T
            h = torch.relu(h) if activation == "relu" else gelu(h)
            return h @ w_2.T
        """,
    ),
    Mutant(
        "feedforward.feed_forward",
        "relu whatever the activation",
        """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation not in ("relu", "gelu"):
                raise ValueError(activation)
            h = x @ w_1.T
            if b_1 is not None:
                h = h + b_1
            out = torch.relu(h) @ w_2.T
            if b_2 is not None:
                out = out + b_2
            return out
        """,
    ),
    Mutant(
        "feedforward.feed_forward",
        "weights not transposed when F == D",
        """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation not in ("relu", "gelu"):
                raise ValueError(activation)
            first = w_1 if w_1.shape[0] == w_1.shape[1] else w_1.T
            second = w_2 if w_2.shape[0] == w_2.shape[1] else w_2.T
            h = x @ first
            if b_1 is not None:
                h = h + b_1
            h = torch.relu(h) if activation == "relu" else gelu(h)
            out = h @ second
            if b_2 is not None:
                out = out + b_2
            return out
        """,
    ),
    Mutant(
        "feedforward.feed_forward",
        "no ValueError: anything but 'gelu' is relu",
        """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            h = x @ w_1.T
            if b_1 is not None:
                h = h + b_1
            h = gelu(h) if activation == "gelu" else torch.relu(h)
            out = h @ w_2.T
            if b_2 is not None:
                out = out + b_2
            return out
        """,
    ),
]
