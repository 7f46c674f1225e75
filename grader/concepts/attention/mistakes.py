"""Realistic mistakes in attention.py."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ softmax
    Mutant(
        "attention.softmax",
        "no max subtraction (overflows for large inputs)",
        """
        def softmax(x, dim=-1):
            e = torch.exp(x)
            return e / e.sum(dim=dim, keepdim=True)
        """,
    ),
    Mutant(
        "attention.softmax",
        "one global max instead of a max per slice",
        """
        def softmax(x, dim=-1):
            e = torch.exp(x - x.max())
            return e / e.sum(dim=dim, keepdim=True)
        """,
    ),
    Mutant(
        "attention.softmax",
        "normalises over the last axis whatever dim is",
        """
        def softmax(x, dim=-1):
            e = torch.exp(x - x.amax(dim=-1, keepdim=True))
            return e / e.sum(dim=-1, keepdim=True)
        """,
    ),
    Mutant(
        "attention.softmax",
        "returns log-softmax",
        """
        def softmax(x, dim=-1):
            m = x.amax(dim=dim, keepdim=True)
            return x - m - torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))
        """,
    ),
    Mutant(
        "attention.softmax",
        "adds an epsilon to the exponentials (-inf does not give exactly 0)",
        """
        def softmax(x, dim=-1):
            e = torch.exp(x - x.amax(dim=dim, keepdim=True)) + 1e-12
            return e / e.sum(dim=dim, keepdim=True)
        """,
    ),
    Mutant(
        "attention.softmax",
        "max taken without keepdim (broadcasts along the wrong axis)",
        """
        def softmax(x, dim=-1):
            e = torch.exp(x - x.max(dim=dim).values)
            return e / e.sum(dim=dim, keepdim=True)
        """,
    ),
    Mutant(
        "attention.softmax",
        "computes in float32 whatever the input dtype",
        """
        def softmax(x, dim=-1):
            x = x.float()
            e = torch.exp(x - x.amax(dim=dim, keepdim=True))
            return e / e.sum(dim=dim, keepdim=True)
        """,
    ),
    # --------------------------------------------------- scaled dot-product attention
    Mutant(
        "attention.scaled_dot_product_attention",
        "divides by d instead of sqrt(d)",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / q.shape[-1]
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = softmax(scores, dim=-1)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "no scaling",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = softmax(scores, dim=-1)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "scales by sqrt of the value size dv",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = softmax(scores, dim=-1)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "mask polarity inverted (True = blocked, as nn.MultiheadAttention)",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))
            weights = softmax(scores, dim=-1)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "blocked scores filled with 0 instead of -inf",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, 0.0)
            weights = softmax(scores, dim=-1)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "softmax over the query axis",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = softmax(scores, dim=-2)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "k.T (reverses every axis of a batched k)",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.T / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = softmax(scores, dim=-1)
            return weights @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "returns the weights from before masking",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = softmax(scores, dim=-1)
            if mask is None:
                return weights @ v, weights
            masked = softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            return masked @ v, weights
        """,
    ),
    Mutant(
        "attention.scaled_dot_product_attention",
        "masks the weights after the softmax (rows no longer sum to one)",
        """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = softmax(scores, dim=-1)
            if mask is not None:
                weights = weights.masked_fill(~mask, 0.0)
            return weights @ v, weights
        """,
    ),
]
