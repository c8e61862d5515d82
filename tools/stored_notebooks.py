"""What a committed notebook keeps of the run that made it: what the cells showed, not the run's own
bookkeeping - so that running again changes only what really changed. Used by execute_notebooks.py
(the course's stored outputs) and make_exercises.py (the exercises, stored without outputs)."""


def drop_run_metadata(nb, *, keep_widget_state: bool) -> None:
    """Forget nbclient's per-cell timings; and the saved widget state unless it is kept on purpose
    (execute_notebooks keeps the models a stored output draws, so a viewer without a kernel can too)."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            # a prediction's record (forklab.check_prediction: who answered what, when) belongs to the
            # student's own copy, not to the course's stored outputs: it would change on every run
            output.get("metadata", {}).pop("forklab", None)
    if not keep_widget_state:
        nb.metadata.pop("widgets", None)
