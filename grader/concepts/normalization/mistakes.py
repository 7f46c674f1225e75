"""Realistic mistakes in normalization.py."""

from grader.author import Mutant

MUTANTS = [
    # -------------------------------------------------------------- layer_norm
    Mutant(
        "normalization.layer_norm",
        "unbiased variance (x.var() divides by D - 1)",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            y = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "normalises over the first dimension instead of the last",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(0, keepdim=True)
            var = ((x - mean) ** 2).mean(0, keepdim=True)
            y = (x - mean) / torch.sqrt(var + eps)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "eps outside the square root",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(-1, keepdim=True)
            std = ((x - mean) ** 2).mean(-1, keepdim=True).sqrt()
            y = (x - mean) / (std + eps)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "variance as E[x^2] - E[x]^2 (catastrophic cancellation)",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(-1, keepdim=True)
            var = (x * x).mean(-1, keepdim=True) - mean * mean
            y = (x - mean) / torch.sqrt(var + eps)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "weight and bias swapped",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(-1, keepdim=True)
            var = ((x - mean) ** 2).mean(-1, keepdim=True)
            y = (x - mean) / torch.sqrt(var + eps)
            if bias is not None:
                y = y * bias
            if weight is not None:
                y = y + weight
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "bias added before scaling by weight",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(-1, keepdim=True)
            var = ((x - mean) ** 2).mean(-1, keepdim=True)
            y = (x - mean) / torch.sqrt(var + eps)
            if bias is not None:
                y = y + bias
            if weight is not None:
                y = y * weight
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "ignores the eps argument (hard-coded 1e-5)",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(-1, keepdim=True)
            var = ((x - mean) ** 2).mean(-1, keepdim=True)
            y = (x - mean) / torch.sqrt(var + 1e-5)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "centres x in place (x -= mean)",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            x -= x.mean(-1, keepdim=True)
            y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    Mutant(
        "normalization.layer_norm",
        "mean and variance detached from the graph",
        """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            mean = x.mean(-1, keepdim=True).detach()
            var = ((x - mean) ** 2).mean(-1, keepdim=True).detach()
            y = (x - mean) / torch.sqrt(var + eps)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """,
    ),
    # -------------------------------------------------------------- rms_norm
    Mutant(
        "normalization.rms_norm",
        "subtracts the mean (a layer norm without affine)",
        """
        def rms_norm(x, weight=None, eps=1e-6):
            centred = x - x.mean(-1, keepdim=True)
            y = centred / torch.sqrt((centred * centred).mean(-1, keepdim=True) + eps)
            return y if weight is None else y * weight
        """,
    ),
    Mutant(
        "normalization.rms_norm",
        "sum of squares instead of their mean",
        """
        def rms_norm(x, weight=None, eps=1e-6):
            y = x / torch.sqrt((x * x).sum(-1, keepdim=True) + eps)
            return y if weight is None else y * weight
        """,
    ),
    Mutant(
        "normalization.rms_norm",
        "eps outside the square root",
        """
        def rms_norm(x, weight=None, eps=1e-6):
            y = x / (torch.sqrt((x * x).mean(-1, keepdim=True)) + eps)
            return y if weight is None else y * weight
        """,
    ),
    Mutant(
        "normalization.rms_norm",
        "default eps 1e-5 (layer norm's)",
        """
        def rms_norm(x, weight=None, eps=1e-5):
            y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
            return y if weight is None else y * weight
        """,
    ),
    Mutant(
        "normalization.rms_norm",
        "divides by the L2 norm (x / ||x||)",
        """
        def rms_norm(x, weight=None, eps=1e-6):
            y = x / (x.norm(dim=-1, keepdim=True) + eps)
            return y if weight is None else y * weight
        """,
    ),
    Mutant(
        "normalization.rms_norm",
        "ignores the weight",
        """
        def rms_norm(x, weight=None, eps=1e-6):
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
        """,
    ),
    Mutant(
        "normalization.rms_norm",
        "mean square over the first dimension",
        """
        def rms_norm(x, weight=None, eps=1e-6):
            y = x / torch.sqrt((x * x).mean(0, keepdim=True) + eps)
            return y if weight is None else y * weight
        """,
    ),
]
