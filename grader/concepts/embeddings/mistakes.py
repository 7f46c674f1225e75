"""Realistic mistakes in embeddings.py."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ one_hot
    Mutant(
        "embeddings.one_hot",
        "dtype ignored (always float32)",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
                raise ValueError("index out of range")
            classes = torch.arange(num_classes, device=indices.device)
            return (indices.unsqueeze(-1) == classes).float()
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "int64 dtype ignored (scatter of 1.0 into a float buffer)",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
                raise ValueError("index out of range")
            buffer_dtype = dtype if dtype.is_floating_point else torch.float32
            out = torch.zeros(*indices.shape, num_classes, dtype=buffer_dtype, device=indices.device)
            return out.scatter(-1, indices.long().unsqueeze(-1), 1.0)
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "no range check (out-of-range rows silently all zero)",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            classes = torch.arange(num_classes, device=indices.device)
            return (indices.unsqueeze(-1) == classes).to(dtype)
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "negative index wraps (eye(C)[indices], only the upper bound checked)",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            if indices.numel() > 0 and int(indices.max()) >= num_classes:
                raise ValueError("index too large")
            return torch.eye(num_classes, dtype=dtype, device=indices.device)[indices.long()]
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "class axis first ([C, *S] instead of [*S, C])",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
                raise ValueError("index out of range")
            classes = torch.arange(num_classes, device=indices.device).view(-1, *([1] * indices.dim()))
            return (classes == indices).to(dtype)
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "num_classes inferred from the data (F.one_hot default -1)",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            import torch.nn.functional as F
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
                raise ValueError("index out of range")
            if indices.numel() == 0:
                return torch.zeros(*indices.shape, num_classes, dtype=dtype, device=indices.device)
            return F.one_hot(indices.long()).to(dtype)
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "F.one_hot on int32 indices (no .long())",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            import torch.nn.functional as F
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
                raise ValueError("index out of range")
            return F.one_hot(indices, num_classes).to(dtype)
        """,
    ),
    Mutant(
        "embeddings.one_hot",
        "range check crashes on an empty index tensor (min() of nothing)",
        """
        def one_hot(indices, num_classes, dtype=torch.float32):
            if int(indices.min()) < 0 or int(indices.max()) >= num_classes:
                raise ValueError("index out of range")
            classes = torch.arange(num_classes, device=indices.device)
            return (indices.unsqueeze(-1) == classes).to(dtype)
        """,
    ),
    # ------------------------------------------------------------------ embedding_lookup
    Mutant(
        "embeddings.embedding_lookup",
        "transposed product (weight.T @ one_hot.T reshaped, not transposed back)",
        """
        def embedding_lookup(indices, weight):
            vocab, dim = weight.shape
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= vocab):
                raise ValueError("index out of range")
            flat = one_hot(indices.reshape(-1), vocab, dtype=weight.dtype)  # [N, V]
            return (weight.T @ flat.T).reshape(*indices.shape, dim)
        """,
    ),
    Mutant(
        "embeddings.embedding_lookup",
        "no range check (negative ids wrap to the last rows)",
        """
        def embedding_lookup(indices, weight):
            return weight[indices.long()]
        """,
    ),
    Mutant(
        "embeddings.embedding_lookup",
        "detached result (indexes weight.data)",
        """
        def embedding_lookup(indices, weight):
            vocab = weight.shape[0]
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= vocab):
                raise ValueError("index out of range")
            return weight.data[indices.long()]
        """,
    ),
    Mutant(
        "embeddings.embedding_lookup",
        "round trip through NumPy (float table indexed in NumPy)",
        """
        def embedding_lookup(indices, weight):
            vocab = weight.shape[0]
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= vocab):
                raise ValueError("index out of range")
            table = weight.detach().cpu().numpy()
            rows = table[indices.cpu().numpy().astype("float32").astype("int64")]
            return torch.from_numpy(rows).to(weight.device)
        """,
    ),
    Mutant(
        "embeddings.embedding_lookup",
        "float32 one-hot matmul (weight dtype ignored)",
        """
        def embedding_lookup(indices, weight):
            vocab = weight.shape[0]
            return one_hot(indices, vocab) @ weight.float()
        """,
    ),
    Mutant(
        "embeddings.embedding_lookup",
        "F.one_hot on int32 indices (no .long())",
        """
        def embedding_lookup(indices, weight):
            import torch.nn.functional as F
            vocab = weight.shape[0]
            if indices.numel() > 0 and (int(indices.min()) < 0 or int(indices.max()) >= vocab):
                raise ValueError("index out of range")
            return F.one_hot(indices, vocab).to(weight.dtype) @ weight
        """,
    ),
]
