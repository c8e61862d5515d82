"""nbgrader configuration for a forklab class (the instructor's course folder and every student's server).

Instructor: copy (or symlink) this file and forklab_nbgrader.py into the course folder, solutions/ into
source/<assignment>/, and run nbgrader from there (docs/instructors.md). Students: the hub points
JUPYTER_CONFIG_PATH at this folder (deploy/jupyterhub_config.py), so fetch and submit find the same
exchange and course. Settings come from the environment so that one file serves every machine:
    FORKLAB_COURSE     course id (default: forklab)
    FORKLAB_EXCHANGE   the exchange folder shared by the instructor and the students
                       (default: /srv/nbgrader/exchange; mode 1777 - see docs/instructors.md)
    FORKLAB_GRADING_COMMAND  (the instructor) autograde runs each kernel through `sudo -n` + this command,
                       as the unprivileged grading account it names (grading_kernel.py, docs/instructors.md)
"""
import os
import sys

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

c.CourseDirectory.course_id = os.environ.get("FORKLAB_COURSE", "forklab")
c.Exchange.root = os.environ.get("FORKLAB_EXCHANGE", "/srv/nbgrader/exchange")

# Our preprocessors live beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from forklab_nbgrader import HideHiddenTestsInFeedback, RestoreHiddenTests, StudentIdentity
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
                                        OverwriteKernelspec)
except ImportError:   # a student's server without nbgrader: the settings above are all it needs
    pass
else:
    # autograde: the student's id for their variants, then nbgrader's sanitizing steps with OverwriteCells
    # replaced (see forklab_nbgrader.py)
    c.Autograde.sanitize_preprocessors = [StudentIdentity, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                          RestoreHiddenTests, CheckCellMetadata]
    # generate_feedback: nbgrader's steps, then hide the hidden tests
    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTestsInFeedback]
    if os.environ.get("FORKLAB_GRADING_COMMAND"):
        # autograde: nbgrader's steps, with Execute's kernels run as the grading account
        from grading_kernel import GradingExecute
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        from nbgrader.preprocessors import (AssignLatePenalties, IgnorePattern, LimitOutput, SaveAutoGrades)
        c.Autograde.autograde_preprocessors = [GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                               SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# A student's endless loop must not hold up the class's grading: seconds per cell.
c.ExecutePreprocessor.timeout = 120
