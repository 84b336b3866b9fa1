"""Checks for the notebooks' exercises: a student's function is compared with the course's
own implementation on fixed inputs, and a failing check says what differs."""


def report(ok: bool, what: str, detail: str = "") -> bool:
    if ok:
        print(f"Correct: {what}.")
        return True
    raise AssertionError(f"Not yet: {what}. {detail}".strip())
