"""fastai, imported without the one warning its import prints.

fastai.layers decorates four activation functions with `torch.jit.script`, which torch 2.x
deprecates: a FutureWarning on the first import in every notebook kernel and every worker
process. The call is fastai's, not the course's, and the warning tells a student nothing, so
it is silenced here, for that message only and only while fastai.layers is first imported.
Every module of helpers.classify that uses fastai imports this one before it.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import fastai.layers  # noqa: F401
