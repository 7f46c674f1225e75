"""Realistic mistakes in sampling.py."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ top_k_filter
    Mutant(
        "sampling.top_k_filter",
        "keeps k + 1: the k-th largest taken as values[..., k] (counting from 0)",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            if k >= logits.shape[-1]:
                return logits.clone()
            kth = logits.sort(dim=-1, descending=True).values[..., k : k + 1]
            return logits.masked_fill(logits < kth, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "keeps k - 1: filters with <= the k-th largest",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            k = min(k, logits.shape[-1])
            kth = logits.topk(k, dim=-1).values[..., -1:]
            out = logits.masked_fill(logits <= kth, float("-inf"))
            return logits if k == logits.shape[-1] else out
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "keeps exactly k (scatters topk's indices): ties with the k-th largest dropped",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            k = min(k, logits.shape[-1])
            indices = logits.topk(k, dim=-1).indices
            keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, indices, True)
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "fills the removed logits with 0 instead of -inf",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]
            return logits.masked_fill(logits < kth, 0.0)
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "does not clamp k: topk fails for k > V",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            kth = logits.topk(k, dim=-1).values[..., -1:]
            return logits.masked_fill(logits < kth, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "no ValueError for k < 1",
        """
        def top_k_filter(logits, k):
            k = max(1, min(k, logits.shape[-1]))
            kth = logits.topk(k, dim=-1).values[..., -1:]
            return logits.masked_fill(logits < kth, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "writes -inf into the logits in place",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]
            logits[logits < kth] = float("-inf")
            return logits
        """,
    ),
    Mutant(
        "sampling.top_k_filter",
        "k-th largest taken over the first dim (dim=0) instead of the vocabulary",
        """
        def top_k_filter(logits, k):
            if k < 1:
                raise ValueError("k must be >= 1")
            k = min(k, logits.shape[0])
            kth = logits.sort(dim=0, descending=True).values[k - 1 : k]
            return logits.masked_fill(logits < kth, float("-inf"))
        """,
    ),
    # ------------------------------------------------------------------ top_p_filter
    Mutant(
        "sampling.top_p_filter",
        "keeps one token too few: tests the cumulative sum including the token (cumsum < p)",
        """
        def top_p_filter(logits, p):
            if not 0 < p <= 1:
                raise ValueError("p must be in (0, 1]")
            probs = torch.softmax(logits, dim=-1)
            ordered, order = probs.sort(dim=-1, descending=True)
            keep_sorted = ordered.cumsum(-1) < p
            keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_p_filter",
        "keeps one token too many: counts the tokens before p and keeps one more",
        """
        def top_p_filter(logits, p):
            if not 0 < p <= 1:
                raise ValueError("p must be in (0, 1]")
            probs = torch.softmax(logits, dim=-1)
            ordered, order = probs.sort(dim=-1, descending=True)
            before = ordered.cumsum(-1) - ordered
            count = (before < p).sum(-1, keepdim=True) + 1
            keep_sorted = torch.arange(logits.shape[-1], device=logits.device) < count
            keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_p_filter",
        "applies the sorted decisions to the unsorted logits (forgets to undo the sort)",
        """
        def top_p_filter(logits, p):
            if not 0 < p <= 1:
                raise ValueError("p must be in (0, 1]")
            probs = torch.softmax(logits, dim=-1)
            ordered = probs.sort(dim=-1, descending=True).values
            keep = ordered.cumsum(-1) - ordered < p
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_p_filter",
        "sorts the probabilities in ascending order (keeps the least likely tokens)",
        """
        def top_p_filter(logits, p):
            if not 0 < p <= 1:
                raise ValueError("p must be in (0, 1]")
            probs = torch.softmax(logits, dim=-1)
            ordered, order = probs.sort(dim=-1)
            keep_sorted = ordered.cumsum(-1) - ordered < p
            keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_p_filter",
        "cumulative sum of the sorted logits instead of their probabilities",
        """
        def top_p_filter(logits, p):
            if not 0 < p <= 1:
                raise ValueError("p must be in (0, 1]")
            ordered, order = logits.sort(dim=-1, descending=True)
            keep_sorted = ordered.cumsum(-1) - ordered < p
            keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    Mutant(
        "sampling.top_p_filter",
        "no ValueError for p outside (0, 1]",
        """
        def top_p_filter(logits, p):
            if p >= 1:
                return logits.clone()
            probs = torch.softmax(logits, dim=-1)
            ordered, order = probs.sort(dim=-1, descending=True)
            keep_sorted = ordered.cumsum(-1) - ordered < p
            keep_sorted[..., 0] = True
            keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
            return logits.masked_fill(~keep, float("-inf"))
        """,
    ),
    # ------------------------------------------------------------------ sample_next_token
    Mutant(
        "sampling.sample_next_token",
        "temperature applied after the softmax (to the probabilities)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            probs = torch.softmax(filtered, dim=-1) / temperature
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "filters applied before the temperature",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            probs = torch.softmax(filtered / temperature, dim=-1)
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "top_p applied before top_k",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            probs = torch.softmax(filtered, dim=-1)
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "samples from the global RNG (ignores the generator)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            return torch.multinomial(torch.softmax(filtered, dim=-1), 1).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "temperature 0 not special-cased (divides by zero)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            probs = torch.softmax(filtered, dim=-1)
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "returns [B, 1] (multinomial's shape, not squeezed)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1, keepdim=True)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            return torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "one uniform number for the whole batch (inverse CDF with torch.rand(1))",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            cdf = torch.softmax(filtered, dim=-1).cumsum(-1)
            u = torch.rand(1, generator=generator, device=logits.device, dtype=cdf.dtype)
            index = torch.searchsorted(cdf, u.expand(cdf.shape[0], 1)).squeeze(-1)
            return index.clamp(max=logits.shape[-1] - 1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "re-seeds a fresh generator from the given one's seed on every call (draws never advance)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            fresh = None
            if generator is not None:
                fresh = torch.Generator(device=logits.device).manual_seed(generator.initial_seed())
            return torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=fresh).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "ignores top_p",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            return torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "multiplies the logits by the temperature",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits * temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            return torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "softmax over the batch (dim=0)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            probs = torch.softmax(filtered, dim=0)
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "no ValueError for a negative temperature",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature <= 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            return torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator).squeeze(-1)
        """,
    ),
    Mutant(
        "sampling.sample_next_token",
        "samples partly from the global RNG (Gumbel noise drawn without the generator)",
        """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("temperature must be >= 0")
            if temperature == 0:
                return logits.argmax(dim=-1)
            filtered = logits / temperature
            if top_k is not None:
                filtered = top_k_filter(filtered, top_k)
            if top_p is not None:
                filtered = top_p_filter(filtered, top_p)
            u = torch.rand(filtered.shape, generator=generator, device=logits.device, dtype=filtered.dtype)
            if filtered.shape[0] > 1:  # the other rows' noise from the global state
                u[1:] = torch.rand(u[1:].shape, device=logits.device, dtype=filtered.dtype)
            gumbel = -torch.log(-torch.log(u.clamp_min(1e-20)))
            return (filtered + gumbel).argmax(dim=-1)
        """,
    ),
]
