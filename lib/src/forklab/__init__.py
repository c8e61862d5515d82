"""forklab - watch the Linux kernel answer fork(), vfork() and clone().

    >>> import forklab
    >>> obs = forklab.run("clone", ["CLONE_VM"])
    >>> obs.resources["memory"].shared
    True

Every verdict is observed on the running kernel, in a sandboxed bench process: the Python
process that calls forklab is never forked itself.
"""
from forklab.engine.errors import (BenchFailed, CloneRefused, ExperimentCrashed, ExperimentTimeout, ForbiddenHere,
                                   ForklabError, UnsafeExperiment)
from forklab.engine.experiment import Observation, run
from forklab.engine.explain import Fix
from forklab.engine.flags import FLAGS, Flag, flag_named, names_of, parse_flags
from forklab.course.happens_before import Orders, grade_orders, orders
from forklab.course.report import PlatformReport, platform_report
from forklab.course.prediction import PredictionCheck, check_prediction
from forklab.course.references import Reference, reference, reference_if_forbidden
from forklab.engine.request import PRIMITIVES
from forklab.engine.resources import RESOURCES, Resource
from forklab.engine.verdicts import Side, Verdict
from forklab.explorer.timeline import Timeline, timeline, timeline_c

__all__ = [
    "run", "Observation", "Verdict", "Side", "Resource", "RESOURCES", "PRIMITIVES",
    "FLAGS", "Flag", "flag_named", "names_of", "parse_flags", "Fix",
    "CloneRefused", "UnsafeExperiment", "ExperimentTimeout", "ExperimentCrashed", "BenchFailed",
    "ForklabError", "ForbiddenHere", "platform_report", "PlatformReport", "check_prediction", "PredictionCheck",
    "reference_if_forbidden", "reference", "Reference", "explore", "FlagExplorer",
    "orders", "Orders", "grade_orders", "timeline", "timeline_c", "Timeline",
]


def __getattr__(name):
    # The widget pulls in ipywidgets: import it only when asked for, so that `import forklab`
    # (and the bench server, which imports it too) stays light.
    if name in ("explore", "FlagExplorer"):
        from forklab.explorer import widgets
        return getattr(widgets, name)
    raise AttributeError(f"module 'forklab' has no attribute {name!r}")
__version__ = "0.1.0"
