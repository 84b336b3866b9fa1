"""Helpers for the course "Synthetic data for breast-cancer image classification".

The notebooks import from here so that each one shows the idea it teaches and leaves
the plumbing (data records, splits, training loops, metrics) to small tested modules.
"""

import os

# Math threads that wait for work sleep instead of spinning. With spinning (the OpenMP default),
# two threads on a 2-core machine beside one other busy process ran the quick WGAN-GP step 5x
# slower than one thread; with passive waiting, about as fast (benchmarks/thread_contention.py).
# It only takes effect if set before torch is first imported, hence here; set it yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from helpers.progress import configure as _configure_progress  # noqa: E402

# before any module binds `from tqdm.auto import tqdm` (helpers.config imports helpers.data)
_configure_progress()  # plain text bars in notebooks the course runner executes (see helpers.progress)

from helpers.config import Config, resolve, setup  # noqa: E402,F401

__version__ = "0.1.0"
