"""The grader's basic promises: full marks for the reference, zero for the stubs, deterministic."""

from __future__ import annotations

from grader.engine.results import without_timings
from tests.conftest import EXERCISES, SOLUTIONS


def test_reference_solutions_get_full_marks(reference_report):
    failed = {
        e.name: [f"{c.name}: {c.message}" for c in e.checks if not c.passed]
        for e in reference_report.exercises
        if e.score < e.max_score
    }
    assert failed == {}
    assert reference_report.score == reference_report.max_score > 0


def test_every_contract_function_is_an_exercise(course):
    names = {e.name for e in course.exercises}
    expected = {
        "embeddings.one_hot", "embeddings.embedding_lookup",
        "recurrent.rnn_cell", "recurrent.lstm_cell", "recurrent.gru_cell",
        "attention.softmax", "attention.scaled_dot_product_attention",
        "masks.causal_mask", "masks.padding_mask",
        "multihead.split_heads", "multihead.merge_heads", "multihead.multi_head_attention",
        "positional.sinusoidal_positional_encoding",
        "decoding.greedy_decode", "decoding.beam_search",
        "patches.patchify", "patches.patch_embedding",
        "positional.rotary_embedding",
        "normalization.layer_norm", "normalization.rms_norm",
        "feedforward.gelu", "feedforward.feed_forward",
        "blocks.encoder_block", "blocks.decoder_block",
        "kv_cache.cached_attention",
        "lora.lora_linear", "lora.merge_lora",
        "vit.vit_embed", "vit.vit_classify",
        "sampling.top_k_filter", "sampling.top_p_filter", "sampling.sample_next_token",
        "mlm.mask_tokens",
    }
    assert names == expected
    assert all(len(e.checks) >= 3 for e in course.exercises)


def test_stubs_score_zero_without_crashing(grader):
    report = grader.grade(EXERCISES)
    assert report.score == 0
    assert report.max_score > 0
    for exercise in report.exercises:
        assert exercise.status == "not implemented", exercise.name
        assert all("NotImplementedError" in c.message or "every call raised" in c.message for c in exercise.checks)


def test_grading_is_deterministic(grader, submission_factory):
    mutated = (SOLUTIONS / "masks.py").read_text() + (
        "\n\ndef causal_mask(q_len, k_len=None, device=None):\n"
        "    k_len = q_len if k_len is None else k_len\n"
        "    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()\n"
    )
    folder = submission_factory({"masks": mutated})
    first = grader.grade(folder).to_json()
    second = grader.grade(folder).to_json()
    assert without_timings(first) == without_timings(second)
    assert first["score"] < first["max_score"]


def test_missing_module_costs_only_its_exercises(grader, submission_factory):
    report = grader.grade(submission_factory(drop=("masks",)))
    for exercise in report.exercises:
        if exercise.name.startswith("masks."):
            assert exercise.score == 0 and exercise.status == "missing"
            assert "masks.py is not in the submission" in exercise.note
        else:
            assert exercise.score == exercise.max_score, exercise.name


def test_report_json_follows_the_contract(reference_report):
    data = reference_report.to_json()
    assert set(data) >= {"submission", "score", "max_score", "device", "exercises"}
    assert data["device"] == "cpu"
    for exercise in data["exercises"]:
        assert exercise["name"].count(".") == 1
        assert exercise["score"] <= exercise["max_score"]
        for check in exercise["checks"]:
            assert set(check) >= {"name", "passed", "score", "max_score", "message"}
            assert check["score"] <= check["max_score"]
    assert abs(sum(e["score"] for e in data["exercises"]) - data["score"]) < 1e-9


def test_what_one_module_does_at_import_cannot_cost_another(grader, course, submission_factory):
    """Each module's checks count as run in its own worker: a global setting made at import
    time by one module (a classic: torch.set_default_dtype) reaches only the modules that
    import it."""
    masks = (SOLUTIONS / "masks.py").read_text() + "\n\ntorch.set_default_dtype(torch.float64)\n"
    report = grader.grade(submission_factory({"masks": masks}))
    lost = {e.name: e.score for e in report.exercises if e.score < e.max_score}
    assert lost == {}, lost


def test_checks_that_fail_beside_the_other_modules_count_as_run_alone(grader, submission_factory):
    """Checks are tried first in one worker that imported every module; one that fails
    there (here because masks.py replaces torch.tanh at import) is run again in its own
    module's worker, which decides, and the student is told what happened."""
    masks = (SOLUTIONS / "masks.py").read_text() + "\n\ntorch.tanh = lambda x: x  # breaks every cell\n"
    report = grader.grade(submission_factory({"masks": masks}))
    lost = {e.name: e.score for e in report.exercises if e.score < e.max_score}
    assert lost == {}, lost
    told = {e.name for e in report.exercises for c in e.checks if c.name == "with your other modules loaded"}
    assert {"recurrent.rnn_cell", "recurrent.lstm_cell", "recurrent.gru_cell"} <= told, told
    assert "masks.causal_mask" not in told
