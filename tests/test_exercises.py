"""The exercise checks accept the right answer and reject answers that are close to right,
with a message that says what to look at."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.exercises.data import check_images_needed, check_twins_across


def _twins(records, thumbs, column, train_parts=("train",), against_all=False):
    x = thumbs.reshape(len(thumbs), -1).astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    test = (records[column] == "test").to_numpy()
    other = ~test if against_all else records[column].isin(train_parts).to_numpy()
    c = x[test] @ x[other].T if not against_all else (x[test] @ x.T) - np.eye(len(x))[test]
    return int((c > 0.97).any(axis=1).sum())


def test_twins_check_rejects_counting_validation_or_test_images():
    check_twins_across(_twins)  # right
    with pytest.raises(AssertionError, match="Validation images are not training images"):
        check_twins_across(lambda r, t, c: _twins(r, t, c, train_parts=("train", "val")))
    with pytest.raises(AssertionError, match="training images only"):
        check_twins_across(lambda r, t, c: _twins(r, t, c, against_all=True))


def test_images_needed_check_returns_nothing_on_success(capsys):
    assert check_images_needed(lambda counts, target: {k: max(0, target - v) for k, v in counts.items()}) is None
    assert capsys.readouterr().out.startswith("Correct:")  # and no stray True in a notebook
    with pytest.raises(AssertionError, match="Not yet"):
        check_images_needed(lambda counts, target: {k: target - v for k, v in counts.items()})


def test_projection_check_messages_are_true():
    from helpers.exercises.gan import check_projection_score

    with pytest.raises(AssertionError, match="unconditional part only"):
        check_projection_score(lambda critic, x, y: critic.score(critic.features(x).flatten(1)).squeeze(1))
    with pytest.raises(AssertionError, match="one score per image"):
        check_projection_score(lambda critic, x, y: critic.score(critic.features(x).flatten(1)))
    with pytest.raises(AssertionError, match="values differ"):
        check_projection_score(lambda critic, x, y: critic(x, y) * 2)
