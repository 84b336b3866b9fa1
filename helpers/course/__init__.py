"""The course tooling: what runs, reports and hands out the notebooks (not lesson content).

- `notebooks`: which files are the course notebooks, in order, and which reads from which;
- `runner`: the main job, every notebook executed with papermill (two at a time), with timings;
- `report`: the static course report over a run (RUNS/index.html) with its key tables;
- `student`: student copies, each solution replaced by an exercise stub; the same released by
  nbgrader, and `nbgrader validate`;
- `owned_files`: copies written for someone else to edit are never overwritten;
- `export`: the training steps written in the notebooks, kept equal to the package's copy.

Nothing here is imported by the lessons' code; the CLI (`helpers.commands`) and the tests are
its callers. `helpers.progress` stays beside the package root: `import helpers` switches the
training loops' bars in every kernel the runner starts, so the base layer must not depend on
this one.
"""
