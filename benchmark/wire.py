"""How an answer leaves a sealed method worker: one frame of JSON plus raw array buffers, never a pickle.

The worker turns whatever ``solve()`` returned into a tree of JSON values in which every array is a reference
to a raw little-endian buffer appended after the JSON. The parent reads the frame's length header first and
refuses a frame over its cap without reading the body, reads the body against a deadline, checks every buffer
against a dtype allow-list and its declared shape, and rebuilds the tree (dicts, lists, numbers, NumPy arrays)
for the task's own answer validation. Nothing the worker sends is unpickled, so an answer cannot run code in
the scorer's process.

Frame: ``MAGIC`` (4 bytes), body length (8 bytes, big-endian), body = JSON length (8 bytes, big-endian), the
JSON, then the buffers. The JSON is ``{"answer": tree, "arrays": [{"dtype", "shape", "offset", "nbytes"}]}``
with arrays in the tree as ``{"__array__": index}``.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any

import numpy as np

from mirl.errors import InvalidAnswerError, MirlError

MAGIC = b"MIRL"
HEADER = struct.Struct(">4sQ")
JSON_LENGTH = struct.Struct(">Q")
# Answers are decoders, unit scores, edits and per-agent numbers: the largest a shipped method returns is a
# few tens of MB (a dense conv-probe readout). A task may pass its own cap.
MAX_ANSWER_BYTES = 512 * 2**20
# what an array in an answer may be made of (little-endian numbers and booleans); anything else is refused
DTYPES = {"<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "|u1", "|b1"}
ARRAY_KEY = "__array__"


class FrameError(MirlError):
    """The worker's frame is malformed, too large or late (a method's fault: a failed result)."""


class FrameLate(FrameError):
    """The frame did not arrive by the deadline."""


class FrameCut(FrameError):
    """The writer closed the channel before the frame was whole (it exited or was killed)."""


# -- the worker's side --------------------------------------------------------------------------------


def encode_answer(answer: Any) -> bytes:
    """One frame holding ``answer``: a pydantic answer model, or dicts / lists / numbers / strings / arrays
    (NumPy or torch) nested. Anything else cannot leave the worker (InvalidAnswerError names it)."""
    buffers: list[bytes] = []
    arrays: list[dict[str, Any]] = []
    offset = 0

    def array_ref(value: np.ndarray) -> dict[str, int]:
        nonlocal offset
        array = np.ascontiguousarray(value)
        if array.dtype.kind in "fiu":
            array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        if array.dtype.str not in DTYPES:
            raise InvalidAnswerError(f"the answer holds an array of dtype {array.dtype}; answers hold numbers "
                                     "(float, int or bool arrays)")
        data = array.tobytes()
        arrays.append({"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset, "nbytes": len(data)})
        buffers.append(data)
        offset += len(data)
        return {ARRAY_KEY: len(arrays) - 1}

    def walk(value: Any, where: str) -> Any:
        from pydantic import BaseModel

        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value  # NaN and infinities travel; the task's validation refuses them with its own message
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return array_ref(value)
        if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
            return array_ref(value.detach().cpu().numpy())
        if isinstance(value, BaseModel):
            return {name: walk(getattr(value, name), f"{where}.{name}") for name in type(value).model_fields}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise InvalidAnswerError(f"{where} has keys that are not strings")
            return {k: walk(v, f"{where}[{k!r}]") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise InvalidAnswerError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}, "
                                 "which cannot leave the method's process; return a mirl answer (mirl.schemas)")

    tree = walk(answer, "answer")
    document = json.dumps({"answer": tree, "arrays": arrays}, allow_nan=True).encode()
    body_length = JSON_LENGTH.size + len(document) + offset
    return b"".join([HEADER.pack(MAGIC, body_length), JSON_LENGTH.pack(len(document)), document, *buffers])


def write_frame(fd: int, frame: bytes, deadline: float | None = None) -> None:
    """Write all of ``frame``; by ``deadline`` (``time.monotonic()``) where one is given, else FrameLate: a
    reader that stops reading cannot hold the writer."""
    view = memoryview(frame)
    if deadline is None:
        while view:
            view = view[os.write(fd, view):]
        return
    was_blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)  # a blocking write would wait for the whole chunk, past any deadline
    try:
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise FrameLate(f"the reader took no more bytes in time ({len(frame) - len(view):,} of "
                                f"{len(frame):,} written)")
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
    finally:
        os.set_blocking(fd, was_blocking)


# -- the parent's side --------------------------------------------------------------------------------


def read_frame(fd: int, deadline: float, max_bytes: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of the next frame on ``fd``, read by ``deadline`` (a ``time.monotonic()`` value). A frame over
    ``max_bytes`` is refused from its header, before any of its body is read."""
    header = _read_exactly(fd, HEADER.size, deadline)
    magic, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise FrameError("the method's process wrote something other than an answer frame to the answer channel")
    if length > max_bytes:
        raise FrameError(f"the answer is {length:,} bytes, over the {max_bytes:,}-byte cap; return a smaller answer")
    return _read_exactly(fd, length, deadline)


def _read_exactly(fd: int, n: int, deadline: float) -> bytes:
    chunks, have = [], 0
    while have < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise FrameLate(f"the answer did not arrive in time ({have:,} of {n:,} bytes read)")
        chunk = os.read(fd, min(n - have, 1 << 20))
        if not chunk:
            raise FrameCut(f"the method's process closed the answer channel after {have:,} of {n:,} bytes")
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def decode_answer(body: bytes) -> Any:
    """The answer tree of a frame's body: dicts, lists, JSON scalars and NumPy arrays (copies of the buffers).
    Every buffer is checked against the allow-list, its declared shape and the body's bounds."""
    if len(body) < JSON_LENGTH.size:
        raise FrameError("the answer frame is truncated")
    (json_length,) = JSON_LENGTH.unpack_from(body)
    start = JSON_LENGTH.size + json_length
    if start > len(body):
        raise FrameError("the answer frame's JSON runs past its end")
    try:
        document = json.loads(body[JSON_LENGTH.size:start])
        tree, specs = document["answer"], document["arrays"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FrameError(f"the answer frame's JSON is malformed ({type(exc).__name__})") from None
    if not isinstance(specs, list):
        raise FrameError("the answer frame's array table is malformed")
    arrays = [_array(spec, body, start) for spec in specs]

    def rebuild(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {ARRAY_KEY}:
                index = value[ARRAY_KEY]
                if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(arrays):
                    raise FrameError(f"the answer refers to array {index!r}, which the frame does not hold")
                return arrays[index]
            return {k: rebuild(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rebuild(v) for v in value]
        return value

    return rebuild(tree)


def _array(spec: Any, body: bytes, start: int) -> np.ndarray:
    try:
        dtype, shape, offset, nbytes = spec["dtype"], spec["shape"], spec["offset"], spec["nbytes"]
    except (KeyError, TypeError):
        raise FrameError("the answer frame's array table is malformed") from None
    if dtype not in DTYPES:
        raise FrameError(f"the answer holds an array of dtype {dtype!r}; allowed: {sorted(DTYPES)}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, nbytes))):
        raise FrameError("the answer frame's array table is malformed")
    if math.prod(shape) * np.dtype(dtype).itemsize != nbytes:
        raise FrameError(f"an array of the answer declares shape {shape} ({dtype}) but {nbytes:,} bytes")
    if start + offset + nbytes > len(body):
        raise FrameError("an array of the answer runs past the end of its frame")
    if nbytes == 0:
        return np.zeros(shape, dtype=dtype)
    return np.frombuffer(body, dtype=dtype, count=math.prod(shape), offset=start + offset).reshape(shape).copy()
