"""Checks for the notebooks' exercises: a student's function is compared with the course's
own implementation on fixed inputs, and a failing check says what differs."""


def report(ok: bool, what: str, detail: str = "") -> None:
    """Print "Correct: ..." or raise AssertionError("Not yet: ... <what to look at>"). Returns
    nothing, so a check at the end of a cell does not echo a stray `True`; a raised error is
    what marks a graded nbgrader cell as failed."""
    if ok:
        print(f"Correct: {what}.")
        return
    raise AssertionError(f"Not yet: {what}. {detail}".strip())
