"""The numbers do not move: the smoke-profile tables of `classify`, `pitfalls`, `ddpm-study`
and `quality`, captured before the package's machinery was redesigned (tests/golden/), are
reproduced by today's code: the same predictions, the same tables.

A change meant to move them rewrites the fixtures with `python tests/golden/capture.py --write`
and says why in its commit."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
import capture  # noqa: E402

# Columns renamed on purpose since the fixtures were captured: {old: new}.
RENAMED: dict[str, str] = {"cell": "run"}  # a training run of the grid was called a cell


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    return capture.capture(root / "runs", capture.smoke_phantom(root / "phantom"))


def _fixtures() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.csv"))


def test_every_fixture_is_produced_again(tables):
    assert sorted(tables) == _fixtures()


@pytest.mark.parametrize("name", _fixtures())
def test_the_redesigned_code_reproduces_the_captured_table(tables, name):
    want = pd.read_csv(GOLDEN / f"{name}.csv").rename(columns=RENAMED)
    got = tables[name]
    got = pd.read_csv(__import__("io").StringIO(got.to_csv(index=False)))  # the same text round trip
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-7, atol=1e-9)
