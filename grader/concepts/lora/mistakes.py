"""Realistic mistakes in lora.py."""

from grader.author import Mutant

MUTANTS = [
    # -------------------------------------------------------------- lora_linear
    Mutant(
        "lora.lora_linear",
        "scaled by alpha instead of alpha / r",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            out = x @ weight.T
            if bias is not None:
                out = out + bias
            return out + alpha * (x @ lora_a.T) @ lora_b.T
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "scaled by r / alpha",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            r = lora_a.shape[0]
            out = x @ weight.T
            if bias is not None:
                out = out + bias
            return out + (r / alpha) * (x @ lora_a.T) @ lora_b.T
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "update not transposed: x @ (B @ A)",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            r = lora_a.shape[0]
            out = x @ weight.T
            if bias is not None:
                out = out + bias
            return out + (alpha / r) * x @ (lora_b @ lora_a)
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "scale applied twice (to A and to B)",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            F = torch.nn.functional
            scale = alpha / lora_a.shape[0]
            return F.linear(x, weight, bias) + F.linear(F.linear(x, scale * lora_a), scale * lora_b)
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "bias forgotten",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            r = lora_a.shape[0]
            return x @ weight.T + (alpha / r) * (x @ lora_a.T) @ lora_b.T
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "bias added twice (also in the LoRA branch)",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            F = torch.nn.functional
            r = lora_a.shape[0]
            return F.linear(x, weight, bias) + (alpha / r) * F.linear(F.linear(x, lora_a), lora_b, bias)
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "r read from the wrong axis (lora_b.shape[0] = out)",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            r = lora_b.shape[0]
            out = x @ weight.T
            if bias is not None:
                out = out + bias
            return out + (alpha / r) * (x @ lora_a.T) @ lora_b.T
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "bias=None not handled",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            r = lora_a.shape[0]
            return x @ weight.T + bias + (alpha / r) * (x @ lora_a.T) @ lora_b.T
        """,
    ),
    Mutant(
        "lora.lora_linear",
        "floor division alpha // r",
        """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            r = lora_a.shape[0]
            out = x @ weight.T
            if bias is not None:
                out = out + bias
            return out + (alpha // r) * (x @ lora_a.T) @ lora_b.T
        """,
    ),
    # --------------------------------------------------------------- merge_lora
    Mutant(
        "lora.merge_lora",
        "scaled by alpha instead of alpha / r",
        """
        def merge_lora(weight, lora_a, lora_b, alpha):
            return weight + alpha * (lora_b @ lora_a)
        """,
    ),
    Mutant(
        "lora.merge_lora",
        "scaled by r / alpha",
        """
        def merge_lora(weight, lora_a, lora_b, alpha):
            return weight + (lora_a.shape[0] / alpha) * (lora_b @ lora_a)
        """,
    ),
    Mutant(
        "lora.merge_lora",
        "modifies weight in place",
        """
        def merge_lora(weight, lora_a, lora_b, alpha):
            weight += (alpha / lora_a.shape[0]) * (lora_b @ lora_a)
            return weight
        """,
    ),
    Mutant(
        "lora.merge_lora",
        "transposed update A.T @ B.T",
        """
        def merge_lora(weight, lora_a, lora_b, alpha):
            return weight + (alpha / lora_a.shape[0]) * (lora_a.T @ lora_b.T)
        """,
    ),
    Mutant(
        "lora.merge_lora",
        "r read from the wrong axis (lora_b.shape[0] = out)",
        """
        def merge_lora(weight, lora_a, lora_b, alpha):
            return weight + (alpha / lora_b.shape[0]) * (lora_b @ lora_a)
        """,
    ),
    Mutant(
        "lora.merge_lora",
        "returns only the update, weight forgotten",
        """
        def merge_lora(weight, lora_a, lora_b, alpha):
            return (alpha / lora_a.shape[0]) * (lora_b @ lora_a)
        """,
    ),
]
