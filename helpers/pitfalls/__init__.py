"""Notebook 09: how much each protocol shortcut inflates a reported accuracy.

The same classifier, on the same budget, under paired protocols: one honest, one with a named
shortcut that the guard (`helpers.classify.protocol.check_evaluation`) lets through and
reports. `experiments` makes the five measurements (notebook and `python -m helpers pitfalls`)
from guarded, cached `runs` on the fold assignments of `splits`; `tables` turns predictions
into paired inflations with CIs; `synthetic_in_test` is notebook 06b's DDPM study under its
own protocol and the honest one, with the same models.
"""
