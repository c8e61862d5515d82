"""The instructor's server on the hub (deploy/jupyterhub_config.py puts this folder first on JUPYTER_CONFIG_PATH
for the users in FORKLAB_INSTRUCTORS): every nbgrader tool, with Formgrader on the course folder.

A single-user server starts in the home folder, and Formgrader takes its course from CourseDirectory.root, which
is the folder nbgrader runs in unless set: here the course folder setup_course.py made (FORKLAB_COURSE_DIR, by
default ~/course; it must be inside the home, the server's root).
"""
import os

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

c.CourseDirectory.root = os.path.expanduser(os.environ.get("FORKLAB_COURSE_DIR", "~/course"))
