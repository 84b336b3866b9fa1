"""Sub-commands of `python -m helpers`, one module each (see helpers/cli.py)."""
