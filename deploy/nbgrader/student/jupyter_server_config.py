"""A student's server on the hub: nbgrader's student tools, none of the instructor's (deploy/jupyterhub_config.py
puts this folder first on JUPYTER_CONFIG_PATH for everyone not in FORKLAB_INSTRUCTORS).

The course environment installs nbgrader with its four server extensions and five lab plugins all enabled. A
student keeps Assignment List (fetch, submit, fetch feedback through the class's exchange) and Validate; the
instructor's Formgrader, course list and Create Assignment go: here the server extensions (their URLs are not
served), in labconfig/page_config.json the lab plugins (no menu item, no sidebar). This is what a student sees,
not what protects the grades: the course folder is the instructor's alone (0700, setup_course.py).
"""
c = get_config()  # noqa: F821 - provided by Jupyter's config loader

# Set in a config file, these win over the environment's jupyter_server_config.d/nbgrader.json, key by key;
# assignment_list and validate_assignment stay enabled from there.
c.ServerApp.jpserver_extensions = {"nbgrader.server_extensions.formgrader": False,
                                   "nbgrader.server_extensions.course_list": False}
