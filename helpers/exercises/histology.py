"""Checks for the exercise of notebook 05b (histopathology: patients as groups)."""

from __future__ import annotations

import pandas as pd

from helpers.exercises import report


def _reference(records: pd.DataFrame, column: str) -> list:
    parts = records.groupby("patient")[column].nunique()
    return sorted(parts[parts > 1].index)


def check_straddling_patients(fn) -> None:
    """fn(records, column) -> sorted list of the patients whose images fall in more than one
    part of `column` (split or fold)."""
    # p1 straddles train/test; p2 is whole; p3 straddles val/test; group ids say nothing of patients
    records = pd.DataFrame(dict(patient=["p1", "p1", "p2", "p2", "p3", "p3", "p3"],
                                group=[0, 1, 2, 2, 3, 4, 5],
                                split=["train", "test", "val", "val", "val", "test", "test"],
                                fold=[0, 0, 1, 1, 2, 2, 2]))
    for column in ("split", "fold"):
        got, want = fn(records.copy(), column), _reference(records, column)
        if isinstance(got, (int, float)):
            return report(False, "patients in more than one part", "return the patients themselves (a list), "
                          "not how many there are")
        got = sorted(got)
        if got != want:
            hint = ("count the distinct parts per *patient*, not per group" if set(got) != set(want) and
                    len(got) > len(want) else "a patient straddles when its images have more than one distinct value "
                    "of the column")
            return report(False, "patients in more than one part", f"for column {column!r} expected {want}, got "
                          f"{got}: {hint}")
    return report(True, "patients in more than one part (split and fold)")
