"""Realistic mistakes in patches.py."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ patchify
    Mutant(
        "patches.patchify",
        "(P, P, C) flatten order, as einops in vit-pytorch",
        """
        def patchify(images, patch_size):
            b, c, h, w = images.shape
            p = patch_size
            if h % p or w % p:
                raise ValueError("not a whole number of patches")
            x = images.reshape(b, c, h // p, p, w // p, p)
            x = x.permute(0, 2, 4, 3, 5, 1)  # b, h, w, p1, p2, c
            return x.reshape(b, (h // p) * (w // p), p * p * c)
        """,
    ),
    Mutant(
        "patches.patchify",
        "column-major patch order (H and W swapped, invisible on square images)",
        """
        def patchify(images, patch_size):
            b, c, h, w = images.shape
            p = patch_size
            if h % p or w % p:
                raise ValueError("not a whole number of patches")
            x = images.reshape(b, c, h // p, p, w // p, p)
            x = x.permute(0, 4, 2, 1, 3, 5)  # grid column before grid row
            return x.reshape(b, (h // p) * (w // p), c * p * p)
        """,
    ),
    Mutant(
        "patches.patchify",
        "reshape without permute (strips, not square patches)",
        """
        def patchify(images, patch_size):
            b, c, h, w = images.shape
            p = patch_size
            if h % p or w % p:
                raise ValueError("not a whole number of patches")
            return images.reshape(b, (h // p) * (w // p), c * p * p)
        """,
    ),
    Mutant(
        "patches.patchify",
        "no ValueError: Tensor.unfold silently floors an indivisible size",
        """
        def patchify(images, patch_size):
            b, c = images.shape[:2]
            p = patch_size
            x = images.unfold(2, p, p).unfold(3, p, p)  # b, c, gh, gw, p, p (remainder dropped)
            x = x.permute(0, 2, 3, 1, 4, 5)
            return x.reshape(b, x.shape[1] * x.shape[2], c * p * p)
        """,
    ),
    Mutant(
        "patches.patchify",
        "F.unfold (im2col): floors indivisible sizes (no ValueError)",
        """
        def patchify(images, patch_size):
            import torch.nn.functional as F
            return F.unfold(images, kernel_size=patch_size, stride=patch_size).transpose(1, 2)
        """,
    ),
    Mutant(
        "patches.patchify",
        "NumPy round trip (no gradients)",
        """
        def patchify(images, patch_size):
            b, c, h, w = images.shape
            p = patch_size
            if h % p or w % p:
                raise ValueError("not a whole number of patches")
            x = images.detach().cpu().numpy().reshape(b, c, h // p, p, w // p, p)
            x = x.transpose(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), c * p * p)
            return torch.from_numpy(x.copy()).to(images.device)
        """,
    ),
    # ------------------------------------------------------------------ patch_embedding
    Mutant(
        "patches.patch_embedding",
        "weight flattened in (P, P, C) order",
        """
        def patch_embedding(images, weight, bias=None):
            d, p = weight.shape[0], weight.shape[-1]
            out = patchify(images, p) @ weight.permute(0, 2, 3, 1).reshape(d, -1).T
            return out if bias is None else out + bias
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "bias ignored",
        """
        def patch_embedding(images, weight, bias=None):
            d, p = weight.shape[0], weight.shape[-1]
            return patchify(images, p) @ weight.reshape(d, -1).T
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "returns [B, D, N] (conv output flattened, not transposed)",
        """
        def patch_embedding(images, weight, bias=None):
            p = weight.shape[-1]
            if images.shape[-2] % p or images.shape[-1] % p:
                raise ValueError("not a whole number of patches")
            return torch.nn.functional.conv2d(images, weight, bias, stride=p).flatten(2)
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "grid transposed (tokens column by column)",
        """
        def patch_embedding(images, weight, bias=None):
            p = weight.shape[-1]
            if images.shape[-2] % p or images.shape[-1] % p:
                raise ValueError("not a whole number of patches")
            out = torch.nn.functional.conv2d(images, weight, bias, stride=p)  # b, d, gh, gw
            return out.transpose(2, 3).flatten(2).transpose(1, 2)
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "patch size read from weight.shape[1] (the channels)",
        """
        def patch_embedding(images, weight, bias=None):
            d, p = weight.shape[0], weight.shape[1]
            out = patchify(images, p) @ weight.reshape(d, -1).T
            return out if bias is None else out + bias
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "no ValueError: a strided conv2d floors indivisible sizes",
        """
        def patch_embedding(images, weight, bias=None):
            p = weight.shape[-1]
            out = torch.nn.functional.conv2d(images, weight, bias, stride=p)
            return out.flatten(2).transpose(1, 2)
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "adds the bias unconditionally (crashes on bias=None)",
        """
        def patch_embedding(images, weight, bias=None):
            d, p = weight.shape[0], weight.shape[-1]
            return patchify(images, p) @ weight.reshape(d, -1).T + bias
        """,
    ),
    Mutant(
        "patches.patch_embedding",
        "computes in float32 (.float()), whatever the input dtype",
        """
        def patch_embedding(images, weight, bias=None):
            d, p = weight.shape[0], weight.shape[-1]
            out = patchify(images, p).float() @ weight.reshape(d, -1).float().T
            return out if bias is None else out + bias.float()
        """,
    ),
]
