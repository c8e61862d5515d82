"""The server `make lab` starts for a student (this folder is on its JUPYTER_CONFIG_PATH; jupyter/README.md).

The student's own ~/.jupyter still wins: this folder sits between it and the environment's settings.
"""
import logging

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

# No nbgrader in a student's own lab. `make test` installs nbgrader into the same .venv, and its server
# extensions would add the instructor's tools (Formgrader, the course list, which also warn "No
# nbgrader_config.py file found") and the student's (Assignment List, Validate), which need a class's
# exchange - a hub's (deploy/), not a lab on one's own machine. labconfig/page_config.json hides the menus.
c.ServerApp.jpserver_extensions = {f"nbgrader.server_extensions.{name}": False for name in
                                   ("formgrader", "course_list", "assignment_list", "validate_assignment")}

# jupyter_server's websockets report their ping interval and timeout in milliseconds (30000, 90000) to a
# Tornado (6.5+) that also reads them as its own and warns "websocket_ping_timeout (90000) cannot be longer
# than the websocket_ping_interval (30000)". The pings find dead clients behind proxies and VPNs; a lab on
# the student's own machine talks to its browser over loopback, so it turns them off (an interval of 0).
c.ServerApp.tornado_settings = {"ws_ping_interval": 0}


class CourseNotebooksAreUntrustedOnPurpose(logging.Filter):
    """Drop "Notebook notebooks/... is not trusted" for the course's own notebooks, and nothing else.

    The course stores its outputs unsigned on purpose: JupyterLab then shows only safe output (the flag
    explorer's still picture) until the student runs a cell. Every course notebook opened would log it.
    """
    FOLDERS = ("notebooks/", "exercises/")

    def filter(self, record):
        return not (record.msg == "Notebook %s is not trusted" and record.args
                    and str(record.args[0]).startswith(self.FOLDERS))


c.ServerApp.logging_config = {
    "filters": {"course_untrusted": {"()": CourseNotebooksAreUntrustedOnPurpose}},
    "handlers": {"console": {"filters": ["course_untrusted"]}},
}

# No calls home: no news feed, no update check (lab-settings/overrides.d/forklab.json stops the question).
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
