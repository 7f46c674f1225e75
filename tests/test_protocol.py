"""The wire format round-trips values and refuses malformed or lying messages."""

from __future__ import annotations

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
