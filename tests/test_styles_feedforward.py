"""Correct GELUs and feed-forward networks in other styles get full marks (F.gelu, the normal
CDF, torch.special, F.linear, einsum, nn.Linear-free loops over positions...)."""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("feedforward.gelu", "F.gelu after checking the name", """
        def gelu(x, approximate="none"):
            if approximate not in ("none", "tanh"):
                raise ValueError(f"unknown approximate {approximate!r}")
            return torch.nn.functional.gelu(x, approximate=approximate)
        """),
    Variant("feedforward.gelu", "the normal CDF (torch.special.ndtr) and a dictionary of forms", """
        def gelu(x, approximate="none"):
            def exact(t):
                return t * torch.special.ndtr(t)

            def tanh_form(t):
                inner = math.sqrt(2 / math.pi) * (t + 0.044715 * torch.pow(t, 3))
                return t * 0.5 * (1 + torch.tanh(inner))

            forms = {"none": exact, "tanh": tanh_form}
            if approximate not in forms:
                raise ValueError("approximate must be 'none' or 'tanh'")
            return forms[approximate](x)
        """),
    Variant("feedforward.gelu", "erfc and float64 inside", """
        def gelu(x, approximate="none"):
            x64 = x.double()
            if approximate == "none":
                out = 0.5 * x64 * torch.special.erfc(-x64 / math.sqrt(2))
            elif approximate == "tanh":
                out = 0.5 * x64 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
            else:
                raise ValueError(approximate)
            return out.to(x.dtype)
        """),
    Variant("feedforward.feed_forward", "F.linear and F.gelu", """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            F = torch.nn.functional
            acts = {"relu": F.relu, "gelu": F.gelu}
            if activation not in acts:
                raise ValueError(f"unknown activation {activation!r}")
            return F.linear(acts[activation](F.linear(x, w_1, b_1)), w_2, b_2)
        """),
    Variant("feedforward.feed_forward", "einsum, clamp for relu, the module's gelu", """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation == "relu":
                act = lambda t: t.clamp(min=0)
            elif activation == "gelu":
                act = gelu
            else:
                raise ValueError(activation)
            h = torch.einsum("...d,fd->...f", x, w_1)
            if b_1 is not None:
                h = h + b_1
            out = torch.einsum("...f,df->...d", act(h), w_2)
            return out if b_2 is None else out + b_2
        """),
    Variant("feedforward.feed_forward", "one position at a time (rows of a flattened view), then stacked", """
        def feed_forward(x, w_1, b_1, w_2, b_2, activation="relu"):
            if activation not in ("relu", "gelu"):
                raise ValueError(activation)
            rows = x.reshape(-1, x.shape[-1])
            outputs = []
            for row in rows:
                h = w_1 @ row
                if b_1 is not None:
                    h = h + b_1
                h = torch.relu(h) if activation == "relu" else gelu(h)
                out = w_2 @ h
                outputs.append(out if b_2 is None else out + b_2)
            return torch.stack(outputs).reshape(x.shape[:-1] + (w_2.shape[0],))
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}
