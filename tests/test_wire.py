"""The answer's way out of a sealed worker (mirl.wire): every answer kind survives the trip exactly and scores
the same; frames that are too large, late, truncated or forged are refused with one line, the oversized one
from its header alone; nothing that is not numbers, strings and containers can leave."""

from __future__ import annotations

import os
import struct
import threading
import time

import numpy as np
import pytest
import torch

from mirl import wire
from mirl.errors import InvalidAnswerError
from mirl.pluginhost import get_tasks
from mirl.schemas import AgentPredictions, Edit, Intervention, UnitScores

SMOKE = ["smoke/goal-readout-v1", "smoke/goal-units-v1", "smoke/goal-retarget-v1", "smoke/next-action-v1"]


def through_a_pipe(frame: bytes, max_bytes: int = wire.MAX_ANSWER_BYTES, seconds: float = 10.0):
    """Write ``frame`` from a thread (it may exceed the pipe's buffer) and read it back as the parent would."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        try:
            wire.write_frame(write_fd, frame)
        except BrokenPipeError:  # the reader refused the frame and closed its end
            pass
        finally:
            os.close(write_fd)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return wire.decode_answer(wire.read_frame(read_fd, time.monotonic() + seconds, max_bytes))
    finally:
        os.close(read_fd)
        writer.join()


@pytest.mark.parametrize("task_id", SMOKE)
def test_every_smoke_oracle_answer_crosses_exactly_and_scores_the_same(task_id):
    task = get_tasks().get(task_id)
    answer = task.validate_answer(task.oracle_answer(task.view(0)))
    tree = through_a_pipe(wire.encode_answer(answer))
    crossed = task.validate_answer(tree)
    assert type(crossed) is type(answer)
    before, after = answer.model_dump(), crossed.model_dump()
    assert before == after
    assert task.score(crossed, 0).metrics == task.score(answer, 0).metrics


def test_raw_trees_with_torch_numpy_and_big_endian_arrays_cross_as_values():
    scores = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": np.arange(4, dtype=">f8"),
              "c": np.array([True, False]), "d": np.zeros((0, 3), dtype=np.int64)}
    tree = through_a_pipe(wire.encode_answer({"kind": "unit_scores", "scores": scores, "note": [1, 2.5, None, "x"]}))
    np.testing.assert_array_equal(tree["scores"]["a"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert tree["scores"]["b"].dtype == np.dtype("<f8") and tree["scores"]["b"].tolist() == [0, 1, 2, 3]
    assert tree["scores"]["c"].tolist() == [True, False] and tree["scores"]["d"].shape == (0, 3)
    assert tree["note"] == [1, 2.5, None, "x"]


def test_agent_predictions_and_edits_cross():
    predictions = AgentPredictions(values={"maze-ppo": 0.25, "maze-r1-s0": np.float32(0.5)})
    assert through_a_pipe(wire.encode_answer(predictions))["values"] == {"maze-ppo": 0.25, "maze-r1-s0": 0.5}
    edits = Intervention(edits=[Edit(hook="h", op="add", vector=np.ones(3), scale=2.0, steps=[0, 1]),
                                Edit(hook="h", op="set", value=0.0, channels=[1], positions=[(0, 1)])])
    tree = through_a_pipe(wire.encode_answer(edits))
    assert Intervention.model_validate(tree).model_dump() == edits.model_dump()


def test_a_nan_crosses_and_the_tasks_validation_refuses_it():
    task = get_tasks().get(SMOKE[1])
    answer = task.validate_answer(task.oracle_answer(task.view(0)))
    scores = {hook: s.copy() for hook, s in answer.scores.items()}
    next(iter(scores.values()))[0] = np.nan
    tree = through_a_pipe(wire.encode_answer(UnitScores.model_construct(scores=scores)))
    with pytest.raises(InvalidAnswerError, match="NaN"):
        task.validate_answer(tree)


@pytest.mark.parametrize("value, named", [
    (lambda: 0, "function"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.array([{}, 1], dtype=object), "dtype object"),
    ({1: np.zeros(2)}, "keys that are not strings"),
    ({"scores": {"h": {1, 2}}}, "answer['scores']['h'] is a builtins.set"),
])
def test_what_is_not_numbers_strings_or_containers_cannot_leave(value, named):
    with pytest.raises(InvalidAnswerError, match=named.replace("[", r"\[").replace("]", r"\]")):
        wire.encode_answer(value)


def test_an_oversized_frame_is_refused_from_its_header_without_waiting_for_its_body():
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, wire.HEADER.pack(wire.MAGIC, 2 * 2**30))  # claims 2 GB and sends nothing more
        started = time.monotonic()
        with pytest.raises(wire.FrameError, match="2,147,483,648 bytes, over the 1,048,576-byte cap"):
            wire.read_frame(read_fd, time.monotonic() + 30, max_bytes=2**20)
        assert time.monotonic() - started < 1.0
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_real_answer_over_the_cap_is_refused():
    frame = wire.encode_answer({"weights": {"h": np.zeros((1024, 512))}})  # 4 MB
    with pytest.raises(wire.FrameError, match="over the 1,048,576-byte cap"):
        through_a_pipe(frame, max_bytes=2**20)


def test_late_truncated_and_foreign_frames_are_refused():
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, wire.HEADER.pack(wire.MAGIC, 100) + b"x" * 10)  # stalls after 10 of 100 bytes
        with pytest.raises(wire.FrameError, match=r"did not arrive in time \(10 of 100 bytes"):
            wire.read_frame(read_fd, time.monotonic() + 0.3)
        os.close(write_fd)
        write_fd = None
        os.close(read_fd)
        read_fd, write_fd = os.pipe()
        os.write(write_fd, wire.HEADER.pack(wire.MAGIC, 100) + b"x" * 10)
        os.close(write_fd)
        write_fd = None
        with pytest.raises(wire.FrameError, match="closed the answer channel after 10 of 100 bytes"):
            wire.read_frame(read_fd, time.monotonic() + 5)
        os.close(read_fd)
        read_fd, write_fd = os.pipe()
        os.write(write_fd, b"hello, scorer")  # e.g. a print() that went to the answer channel
        with pytest.raises(wire.FrameError, match="something other than an answer frame"):
            wire.read_frame(read_fd, time.monotonic() + 5)
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)


def forged(document: dict, buffers: bytes = b"") -> bytes:
    import json

    raw = json.dumps(document).encode()
    return struct.pack(">Q", len(raw)) + raw + buffers


@pytest.mark.parametrize("document, buffers, says", [
    ({"answer": {"__array__": 0}, "arrays": [{"dtype": "|O", "shape": [1], "offset": 0, "nbytes": 8}]}, b"\0" * 8,
     "dtype '|O'"),
    ({"answer": {"__array__": 0}, "arrays": [{"dtype": "<f8", "shape": [3], "offset": 0, "nbytes": 16}]}, b"\0" * 16,
     "declares shape [3]"),
    ({"answer": {"__array__": 0}, "arrays": [{"dtype": "<f8", "shape": [4], "offset": 0, "nbytes": 32}]}, b"\0" * 16,
     "runs past the end"),
    ({"answer": {"__array__": 1}, "arrays": []}, b"", "refers to array 1"),
    ({"answer": {"__array__": 0}, "arrays": [{"dtype": "<f8", "shape": [-1], "offset": 0, "nbytes": 8}]}, b"\0" * 8,
     "array table is malformed"),
    ({"answers": {}}, b"", "JSON is malformed"),
])
def test_forged_array_tables_are_refused(document, buffers, says):
    with pytest.raises(wire.FrameError, match=says.replace("[", r"\[").replace("]", r"\]").replace("|", r"\|")):
        wire.decode_answer(forged(document, buffers))
