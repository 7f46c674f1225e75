"""The wire format round-trips values and refuses malformed or lying messages."""

from __future__ import annotations

import os
import socket
import struct

import pytest
import torch

from grader.sandbox import protocol


def roundtrip(value):
    node, blobs = protocol.encode_value(value)
    return protocol.Decoder(blobs).decode(node)


def test_values_roundtrip():
    value = (
        [torch.arange(6, dtype=torch.float32).reshape(2, 3), torch.tensor([True, False]), None, 3, 2.5, "x"],
        {"dtype": torch.float64, "nan": float("nan"), "bf16": torch.ones(2, dtype=torch.bfloat16)},
    )
    back = roundtrip(value)
    assert torch.equal(back[0][0], value[0][0]) and back[0][0].dtype == torch.float32
    assert torch.equal(back[0][1], value[0][1])
    assert back[0][2:] == [None, 3, 2.5, "x"]
    assert back[1]["dtype"] is torch.float64
    assert back[1]["nan"] != back[1]["nan"]
    assert back[1]["bf16"].dtype == torch.bfloat16


def test_meta_tensors_travel_as_shape_and_dtype_only():
    node, blobs = protocol.encode_value(torch.empty(3, 5, dtype=torch.bool, device="meta"))
    assert blobs == [b""] and node["device"] == "meta"
    decoder = protocol.Decoder(blobs, keep_info=True)
    back = decoder.decode(node)
    assert back.device.type == "meta" and back.shape == (3, 5) and back.dtype == torch.bool
    assert decoder.infos[id(back)].device == "meta"
    with pytest.raises(protocol.ProtocolError):  # a meta tensor never carries values
        protocol.Decoder([b"\x00" * 15]).decode(node)


def test_a_generator_travels_as_its_seed_and_is_rebuilt_on_the_receivers_device():
    node, blobs = protocol.encode_value((torch.Generator().manual_seed(1234), 5))
    back, five = protocol.Decoder(blobs).decode(node)
    assert isinstance(back, torch.Generator) and back.initial_seed() == 1234 and five == 5
    assert torch.equal(torch.rand(4, generator=back), torch.rand(4, generator=torch.Generator().manual_seed(1234)))
    used = torch.Generator().manual_seed(7)
    torch.rand(1, generator=used)
    with pytest.raises(ValueError, match="freshly seeded"):  # its state would not travel
        protocol.encode_value(used)
    with pytest.raises(protocol.ProtocolError):
        protocol.Decoder([]).decode({"$generator": "seven"})


def test_unsupported_values_are_named_not_pickled():
    import numpy as np

    back = roundtrip(np.zeros((2, 3)))
    assert isinstance(back, protocol.Unsupported) and "ndarray" in back.type_name and "[2, 3]" in back.summary


@pytest.mark.parametrize(
    "node,blobs",
    [
        ({"$tensor": 0, "dtype": "float32", "shape": [4]}, [b"\x00" * 8]),  # size mismatch
        ({"$tensor": 3, "dtype": "float32", "shape": [1]}, []),  # missing blob
        ({"$tensor": 0, "dtype": "object", "shape": [1]}, [b"\x00" * 8]),  # unknown dtype
        ({"$tensor": 0, "dtype": "float32", "shape": [-1]}, [b""]),  # negative size
        ({"$pickle": "gASV"}, []),  # unknown node
        ({"$device": "evil:0"}, []),
    ],
)
def test_malformed_values_are_refused(node, blobs):
    with pytest.raises(protocol.ProtocolError):
        protocol.Decoder(blobs).decode(node)


def test_oversized_header_is_refused_before_reading_it():
    ours, theirs = socket.socketpair()
    theirs.sendall(struct.pack("!Q", protocol.MAX_HEADER_BYTES + 1))
    with pytest.raises(protocol.ProtocolError):
        protocol.recv(ours)


def test_frames_roundtrip_over_a_socket():
    ours, theirs = socket.socketpair()
    node, blobs = protocol.encode_value(torch.ones(3))
    protocol.send(theirs, {"op": "result", "value": node}, blobs)
    header, got = protocol.recv(ours)
    assert header["op"] == "result" and torch.equal(protocol.Decoder(got).decode(header["value"]), torch.ones(3))


def test_a_channel_reads_frames_sent_back_to_back_or_in_pieces():
    ours, theirs = socket.socketpair()
    channel = protocol.Channel(ours)
    frames = [protocol.pack({"op": "x", "n": n}, [bytes([n]) * (n * 1000)]) for n in range(1, 4)]
    theirs.sendall(frames[0] + frames[1])  # two frames in one write: the first recv reads both
    for piece in (frames[2][:5], frames[2][5:50], frames[2][50:]):
        theirs.sendall(piece)
    got = [channel.recv() for _ in range(3)]
    assert [h["n"] for h, _ in got] == [1, 2, 3]
    assert [b[0] for _, b in got] == [bytes([n]) * (n * 1000) for n in range(1, 4)]


def test_a_half_sent_frame_times_out_at_the_deadline():
    import time

    ours, theirs = socket.socketpair()
    theirs.sendall(protocol.pack({"op": "x"}, [b"12345678"])[:-3])
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        protocol.Channel(ours).recv(deadline=started + 0.2)
    assert 0.15 < time.monotonic() - started < 2


class _Counter:
    """A portable callable for the tests: its source is this little module."""

    SOURCE = (
        "import os\n"
        "class Counter:\n"
        "    def __init__(self, start):\n"
        "        self.value = start\n"
        "    def __call__(self):\n"
        "        self.value += 1\n"
        "        return (self.value, os.getpid())\n"
    )

    def __init__(self, start: int) -> None:
        self.start = start

    def __call__(self):
        return (self.start + 1, os.getpid())

    def sandbox_portable(self) -> protocol.Portable:
        return protocol.Portable(self.SOURCE, "Counter", [self.start])


def test_portable_callables_travel_as_code_only_when_asked_and_only_to_a_worker():
    counter = _Counter(41)
    node, blobs = protocol.encode_value([counter], on_callable=lambda f: 7)
    assert node == [{"$callable": 7}]  # by default a callback, as any callable
    sent: dict[str, int] = {}
    node, blobs = protocol.encode_value([counter, counter], on_callable=lambda f: 7, portable=sent)
    assert node[0]["$portable"] == 7 and node[0]["factory"] == "Counter"
    assert node[0]["source"] == _Counter.SOURCE and "source" not in node[1]  # the source travels once
    assert node[0]["module"] == node[1]["module"] == 0 and sent == {_Counter.SOURCE: 0}
    with pytest.raises(protocol.ProtocolError):  # the grading process never runs code it receives
        protocol.Decoder(blobs).decode(node)
    built, modules = [], {}

    def rebuild(token, module, source, factory, arguments):
        if source is not None:
            modules[module] = {}
            exec(source, modules[module])
        built.append(token)
        return modules[module][factory](*arguments)

    rebuilt, again = protocol.Decoder(blobs, on_portable=rebuild).decode(node)
    assert rebuilt() == (42, os.getpid()) and rebuilt() == (43, os.getpid()) and built == [7, 7]
    assert again() == (42, os.getpid())


def test_a_portable_callable_runs_inside_the_worker_and_a_plain_one_calls_back(grader, course, submission_factory):
    from grader.engine.submission import load_submission

    folder = submission_factory({"decoding": "def call_twice(step_fn):\n    return [step_fn(), step_fn()]\n"})
    grader.workers.submission = load_submission(folder, course.modules, grader.workdir)
    grader.workers.broken = {}  # what the last graded submission left (e.g. a notebook's broken modules)
    worker = grader.workers.start_worker("decoding", [])
    try:
        counter = _Counter(41)
        ran = worker.call("decoding.call_twice", (counter,), {}).value
        assert [value for value, _ in ran] == [42, 43]  # the worker's copy keeps its own state
        assert {pid for _, pid in ran} != {os.getpid()}  # computed there: no round trip
        called_back = worker.call("decoding.call_twice", (lambda: (0, os.getpid()),), {}).value
        assert {pid for _, pid in called_back} == {os.getpid()}
    finally:
        worker.close()
        grader.workers.submission = None


DRAWING = '''
import torch


def draw(generator, shape):
    return torch.rand(shape, generator=generator)


def from_the_global_rng(generator, shape):
    return torch.rand(shape)


def partly_global(generator, shape):
    return torch.rand(shape, generator=generator) + torch.randint(2, shape)


def pair(generator):
    return torch.randint(5, (3,), generator=generator), [torch.rand(2, generator=generator)]


def ragged(generator):
    return torch.zeros(int(torch.randint(1, 4, (1,), generator=generator)))
'''


def test_draws_are_made_in_one_call_with_an_advancing_generator_and_a_chosen_global_seed(
    grader, course, submission_factory
):
    """``draws=(n, global_seed)``: n calls, one reply, stacked; the worker seeds the global RNGs once
    (with global_seed) before the first draw, as it seeds them with 0 before every plain call."""
    from grader.engine.submission import load_submission

    grader.workers.submission = load_submission(submission_factory({"masks": DRAWING}), course.modules, grader.workdir)
    grader.workers.broken = {}
    worker = grader.workers.start_worker("masks", [])
    gen = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    try:
        calls = worker.calls
        got = worker.call("masks.draw", (gen(7), (2, 3)), {}, draws=(5, 0)).value
        assert worker.calls == calls + 1 and got.shape == (5, 2, 3)
        expected = gen(7)  # the same generator, advancing from draw to draw
        assert torch.equal(got, torch.stack([torch.rand((2, 3), generator=expected) for _ in range(5)]))
        assert torch.equal(worker.call("masks.draw", (gen(7), (2, 3)), {}, draws=(5, 123)).value, got)
        assert not torch.equal(worker.call("masks.draw", (gen(8), (2, 3)), {}, draws=(5, 0)).value, got)
        # The global RNG: new numbers on every draw of a call, the same ones for every generator ...
        glob = worker.call("masks.from_the_global_rng", (gen(7), (4,)), {}, draws=(3, 0)).value
        assert not torch.equal(glob[0], glob[1])
        assert torch.equal(worker.call("masks.from_the_global_rng", (gen(8), (4,)), {}, draws=(3, 0)).value, glob)
        torch.manual_seed(0)
        assert torch.equal(glob, torch.stack([torch.rand(4) for _ in range(3)]))  # seeded with 0 once
        # ... and others for another global seed, which also shows a function that uses it only in part.
        assert not torch.equal(worker.call("masks.from_the_global_rng", (gen(7), (4,)), {}, draws=(3, 5)).value, glob)
        partly = [worker.call("masks.partly_global", (gen(7), (64,)), {}, draws=(2, s)).value for s in (0, 1)]
        assert not torch.equal(*partly)
        # A plain call still seeds the global RNGs with 0 (the same as a call of one draw with global seed 0).
        plain = worker.call("masks.from_the_global_rng", (gen(7), (4,)), {}).value
        assert torch.equal(plain, glob[0])
        # Tuples and lists of tensors stack part by part; draws that do not stack say why.
        ints, (floats,) = worker.call("masks.pair", (gen(3),), {}, draws=(4, 0)).value
        assert ints.shape == (4, 3) and ints.dtype == torch.int64 and floats.shape == (4, 2)
        ragged = worker.call("masks.ragged", (gen(3),), {}, draws=(20, 0)).value
        assert isinstance(ragged, protocol.Unsupported) and "do not stack" in ragged.type_name
        assert "shape [" in ragged.type_name
    finally:
        worker.close()
        grader.workers.submission = None


def test_student_draws_is_one_session_call_and_checks_its_arguments():
    from grader.engine.student import Student
    from grader.sandbox.client import CallResult

    class Session:
        asked: list = []

        def call(self, name, args, kwargs, grad=False, draws=None):
            self.asked.append((name, args, kwargs, draws))
            return CallResult(torch.zeros(4, 2), [], {})

        def expected_device(self, args, kwargs):
            return "cpu"

    session = Session()
    student = Student(session, "m.f", reference=lambda *a, **k: None)
    assert student.draws(4, 1, x=2).shape == (4, 2)
    assert student.draws(4, global_seed=9) is not None
    assert session.asked == [("m.f", (1,), {"x": 2}, (4, 0)), ("m.f", (), {}, (4, 9))]
    for bad in ({"n": 0}, {"n": 2.0}, {"n": 3, "global_seed": -1}):
        with pytest.raises(ValueError):
            student.draws(bad.pop("n"), **bad)
