"""Helpers for the course "Synthetic data for breast-cancer image classification".

The notebooks import from here so that each one shows the idea it teaches and leaves
the plumbing (data records, splits, training loops, metrics) to small tested modules.
"""

from helpers.config import Config, resolve, setup  # noqa: F401
from helpers.progress import configure as _configure_progress

_configure_progress()  # plain text bars in notebooks the course runner executes (see helpers.progress)

__version__ = "0.1.0"
