"""The one place mirl seeds randomness, and the derivation of split seeds from a task seed."""

from __future__ import annotations

import hashlib
import os
import random
import sys
import zlib

import numpy as np

from mirl.errors import MirlError, warn_once

TEST_SALT_ENV = "MIRL_TEST_SALT"
TEST_SALT_FILE_ENV = "MIRL_TEST_SALT_FILE"
MAX_SEED = 2**32  # a task seed is 0 <= seed < 2**32, what every RNG mirl feeds it to accepts


def check_seed(seed: object) -> int:
    """A task seed as an int, or a one-line error saying what a seed may be."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < MAX_SEED:
        raise MirlError(f"seed {seed!r} is out of range: use an integer 0 <= seed < 2**32 (e.g. --seed 0)")
    return int(seed)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if it is loaded) torch; return a NumPy Generator for the caller's draws.

    torch is seeded only when something already imported it, so seeding never pays torch's import cost.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def hash_split(key: bytes, test_buckets: int = 10) -> str:
    """"test" for a fixed 1/``test_buckets`` of all environment instances (a CRC32 of ``key``, e.g. a level's or
    layout's bytes), else "train": a property of the instance, so train and test instances never meet however
    many are drawn, and in whatever order."""
    return "test" if zlib.crc32(key) % test_buckets == 0 else "train"


def derive_seed(seed: int, *purpose: str) -> int:
    """A 63-bit seed for one purpose ("train", "test", ...) derived from a task seed by hashing."""
    text = "|".join([str(seed), *purpose])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def test_salt() -> str:
    """The secret salt of official runs; the public default ("") lets anyone reproduce numbers. Read when a
    scorer asks, from the file that ``MIRL_TEST_SALT_FILE`` names (only its owner may read it: chmod 600), or from
    ``MIRL_TEST_SALT`` with a warning: any process of the same user can read another's environment."""
    path = os.environ.get(TEST_SALT_FILE_ENV)
    if path:
        return _salt_from_file(path)
    value = os.environ.get(TEST_SALT_ENV, "")
    if value:
        warn_once(f"{TEST_SALT_ENV} is an environment variable, which any process of this user can "
                   f"read; put the salt in a file only you can read (chmod 600) and set {TEST_SALT_FILE_ENV} to its path")
    return value


def _salt_from_file(path: str) -> str:
    import stat

    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as file:
            text = file.read().strip()
    except OSError as exc:
        raise MirlError(f"{TEST_SALT_FILE_ENV}={path}: cannot read the salt file ({exc.strerror}); "
                        "create it (chmod 600) or unset the variable") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MirlError(f"{TEST_SALT_FILE_ENV}={path}: others can read it (mode {stat.S_IMODE(info.st_mode):o}); "
                        f"run: chmod 600 {path}")
    if not text:
        raise MirlError(f"{TEST_SALT_FILE_ENV}={path}: the file is empty; write the salt in it")
    if os.environ.get(TEST_SALT_ENV, text) != text:
        raise MirlError(f"both {TEST_SALT_FILE_ENV} and {TEST_SALT_ENV} are set, to different salts; unset "
                        f"{TEST_SALT_ENV}")
    return text


def test_seed(seed: int) -> int:
    """Seed of the test split: only scorers call this, and it depends on the salt (``test_salt``)."""
    return derive_seed(seed, "test", test_salt())


def train_seed(seed: int) -> int:
    return derive_seed(seed, "train")
