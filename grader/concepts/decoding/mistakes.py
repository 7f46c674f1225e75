"""Realistic mistakes in decoding.py."""

from grader.author import Mutant

# ------------------------------------------------------------------ greedy_decode

MUTANTS = [
    Mutant(
        "decoding.greedy_decode",
        "does not stop at eos (always max_new_tokens tokens)",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 0.0
            for _ in range(max_new_tokens):
                row = step_fn(torch.tensor([tokens]))[0]
                next_token = int(torch.argmax(row))
                score += row[next_token].item()
                tokens.append(next_token)
            return tokens, score
        """,
    ),
    Mutant(
        "decoding.greedy_decode",
        "stops at eos without appending it",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 0.0
            for _ in range(max_new_tokens):
                row = step_fn(torch.tensor([tokens]))[0]
                next_token = int(torch.argmax(row))
                if next_token == eos_id:
                    break
                score += row[next_token].item()
                tokens.append(next_token)
            return tokens, score
        """,
    ),
    Mutant(
        "decoding.greedy_decode",
        "multiplies probabilities instead of adding log-probs",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 1.0
            for _ in range(max_new_tokens):
                row = step_fn(torch.tensor([tokens]))[0]
                next_token = int(torch.argmax(row))
                score *= row[next_token].exp().item()
                tokens.append(next_token)
                if next_token == eos_id:
                    break
            return tokens, score
        """,
    ),
    Mutant(
        "decoding.greedy_decode",
        "scores the previous token (bos included) instead of the appended one",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 0.0
            for _ in range(max_new_tokens):
                row = step_fn(torch.tensor([tokens]))[0]
                score += row[tokens[-1]].item()
                next_token = int(torch.argmax(row))
                tokens.append(next_token)
                if next_token == eos_id:
                    break
            return tokens, score
        """,
    ),
    Mutant(
        "decoding.greedy_decode",
        "argmax over the batch axis (dim=0) instead of the vocabulary",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 0.0
            for _ in range(max_new_tokens):
                log_probs = step_fn(torch.tensor([tokens]))
                next_token = int(log_probs.argmax(dim=0)[0])
                score += log_probs[0, next_token].item()
                tokens.append(next_token)
                if next_token == eos_id:
                    break
            return tokens, score
        """,
    ),
    Mutant(
        "decoding.greedy_decode",
        "off by one: bos counted in max_new_tokens",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 0.0
            while len(tokens) < max_new_tokens:
                row = step_fn(torch.tensor([tokens]))[0]
                next_token = int(torch.argmax(row))
                score += row[next_token].item()
                tokens.append(next_token)
                if next_token == eos_id:
                    break
            return tokens, score
        """,
    ),
    Mutant(
        "decoding.greedy_decode",
        "conditions on the last token only",
        """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            tokens = [bos_id]
            score = 0.0
            for _ in range(max_new_tokens):
                row = step_fn(torch.tensor([[tokens[-1]]]))[0]
                next_token = int(torch.argmax(row))
                score += row[next_token].item()
                tokens.append(next_token)
                if next_token == eos_id:
                    break
            return tokens, score
        """,
    ),
]

# ------------------------------------------------------------------ beam_search

# The reference, with hooks the mutants below override one at a time.
_BEAM = """
def beam_search(step_fn, bos_id, eos_id, beam_width, max_new_tokens, length_penalty=0.0):
    alive = {START}
    finished = []
    for _ in range(max_new_tokens):
        if not alive:
            break
        prefixes = torch.tensor([tokens for tokens, _ in alive], dtype=torch.long)
        log_probs = step_fn(prefixes).to("cpu", torch.float64)
        vocab_size = log_probs.shape[-1]
        scores = torch.tensor([score for _, score in alive], dtype=torch.float64)
        candidates = (scores.unsqueeze(-1) + log_probs).reshape(-1)
        order = {SELECT}
        next_alive = []
        for flat_index in order.tolist():
            parent, token = divmod(flat_index, vocab_size)
            hypothesis = (alive[parent][0] + [token], candidates[flat_index].item())
            {KEEP}
        alive = next_alive
        {AFTER_STEP}
    finished.extend(alive)

    def normalised(item):
        tokens, score = item
        generated = {LENGTH}
        return score / generated**length_penalty if generated > 0 else score

    {RETURN}
"""

_DEFAULTS = {
    "START": "[([bos_id], 0.0)]",
    "SELECT": "torch.sort(candidates, descending=True, stable=True).indices[:beam_width]",
    "KEEP": "(finished if token == eos_id else next_alive).append(hypothesis)",
    "AFTER_STEP": "pass",
    "LENGTH": "len(tokens) - 1",
    "RETURN": "return sorted(finished, key=normalised, reverse=True)[:beam_width]",
}


def _beam(**changes: str) -> str:
    source = _BEAM
    for key, default in _DEFAULTS.items():
        source = source.replace("{" + key + "}", changes.get(key, default))
    return source


MUTANTS += [
    Mutant(
        "decoding.beam_search",
        "starts with beam_width copies of [bos] (duplicate beams)",
        _beam(START="[([bos_id], 0.0) for _ in range(beam_width)]"),
    ),
    Mutant(
        "decoding.beam_search",
        "finished hypotheses stay in the beam and are extended",
        _beam(KEEP="next_alive.append(hypothesis)\n"
                   "            if token == eos_id:\n"
                   "                finished.append(hypothesis)"),
    ),
    Mutant(
        "decoding.beam_search",
        "drops finished hypotheses (returns only those alive at the end)",
        _beam(KEEP="if token != eos_id:\n                next_alive.append(hypothesis)"),
    ),
    Mutant(
        "decoding.beam_search",
        "ranks by raw score, ignoring length_penalty",
        _beam(RETURN="return sorted(finished, key=lambda item: item[1], reverse=True)[:beam_width]"),
    ),
    Mutant(
        "decoding.beam_search",
        "length normalisation counts bos",
        _beam(LENGTH="len(tokens)"),
    ),
    Mutant(
        "decoding.beam_search",
        "top-k tokens per hypothesis, first hypotheses fill the beam (no global top-k)",
        _beam(SELECT="torch.cat([row.topk(min(beam_width, vocab_size)).indices + i * vocab_size "
                     "for i, row in enumerate(log_probs)])[:beam_width]"),
    ),
    Mutant(
        "decoding.beam_search",
        "returns the finished hypotheses unsorted (in the order they finished)",
        _beam(RETURN="return finished[:beam_width]"),
    ),
    Mutant(
        "decoding.beam_search",
        "returns the normalised score instead of the raw sum",
        _beam(RETURN="ranked = sorted(finished, key=normalised, reverse=True)[:beam_width]\n"
                     "    return [(tokens, normalised((tokens, score))) for tokens, score in ranked]"),
    ),
    Mutant(
        "decoding.beam_search",
        "stops as soon as one hypothesis finishes",
        _beam(AFTER_STEP="if finished:\n            break"),
    ),
]
