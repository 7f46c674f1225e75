"""Realistic mistakes in vit.py."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ vit_embed
    Mutant(
        "vit.vit_embed",
        "class token appended last",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            return torch.cat([tokens, cls_token.expand(b, 1, d)], dim=1) + pos_embedding
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "position embedding added to the patches only (pos_embedding[1:]), none for the class token",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            tokens = tokens + pos_embedding[1:]
            return torch.cat([cls_token.expand(b, 1, d), tokens], dim=1)
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "position embedding of N rows (pos_embedding[:N] on the patches, none for the class token)",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            tokens = tokens + pos_embedding[:n]
            return torch.cat([cls_token.expand(b, 1, d), tokens], dim=1)
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "class token not expanded over the batch (torch.cat fails for B >= 2)",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            return torch.cat([cls_token.reshape(1, 1, d), tokens], dim=1) + pos_embedding
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "class token only in the first image of the batch (zeros elsewhere)",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            cls = torch.cat([cls_token.reshape(1, 1, d), torch.zeros_like(tokens[1:, :1])], dim=0)
            return torch.cat([cls, tokens], dim=1) + pos_embedding
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "patches in column-major order (own conv2d, grid transposed)",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            p = patch_weight.shape[-1]
            if images.shape[-2] % p or images.shape[-1] % p:
                raise ValueError("not a whole number of patches")
            grid = torch.nn.functional.conv2d(images, patch_weight, patch_bias, stride=p)
            tokens = grid.transpose(2, 3).flatten(2).transpose(1, 2)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            return torch.cat([cls_token.expand(b, 1, d), tokens], dim=1) + pos_embedding
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "no ValueError for a wrong number of pos_embedding rows",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            return torch.cat([cls_token.expand(b, 1, d), tokens], dim=1) + pos_embedding
        """,
    ),
    Mutant(
        "vit.vit_embed",
        "class token copied with torch.tensor (no gradient reaches cls_token)",
        """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs N + 1 rows")
            cls = torch.tensor(cls_token.tolist(), dtype=tokens.dtype, device=tokens.device)
            return torch.cat([cls.expand(b, 1, d), tokens], dim=1) + pos_embedding
        """,
    ),
    # ------------------------------------------------------------------ vit_classify
    Mutant(
        "vit.vit_classify",
        "mean pooling over all tokens",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            pooled = layer_norm(encoded.mean(dim=1), norm_weight, norm_bias, eps)
            return torch.nn.functional.linear(pooled, head_weight, head_bias)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "mean pooling over the patch tokens encoded[:, 1:]",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            pooled = layer_norm(encoded[:, 1:].mean(dim=1), norm_weight, norm_bias, eps)
            return torch.nn.functional.linear(pooled, head_weight, head_bias)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "reads the last token",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            normed = layer_norm(encoded[:, -1], norm_weight, norm_bias, eps)
            return torch.nn.functional.linear(normed, head_weight, head_bias)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "no layer norm",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            return torch.nn.functional.linear(encoded[:, 0], head_weight, head_bias)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "head weight not transposed",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            logits = layer_norm(encoded[:, 0], norm_weight, norm_bias, eps) @ head_weight
            return logits if head_bias is None else logits + head_bias
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "layer norm after the head",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            logits = torch.nn.functional.linear(encoded[:, 0], head_weight, head_bias)
            return layer_norm(logits, norm_weight, norm_bias, eps)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "eps not passed on (layer_norm's default 1e-5)",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            normed = layer_norm(encoded[:, 0], norm_weight, norm_bias)
            return torch.nn.functional.linear(normed, head_weight, head_bias)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "layer norm without its weight and bias",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            return torch.nn.functional.linear(layer_norm(encoded[:, 0], eps=eps), head_weight, head_bias)
        """,
    ),
    Mutant(
        "vit.vit_classify",
        "head bias always added (fails for head_bias=None)",
        """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            normed = torch.nn.functional.layer_norm(encoded[:, 0], encoded.shape[-1:], norm_weight, norm_bias, eps)
            return normed @ head_weight.T + head_bias
        """,
    ),
]
