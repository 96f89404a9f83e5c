"""nbgrader settings every account of the hub shares: where the exchange is, which course.

The hub's spawner sets CHAINRULE_EXCHANGE and CHAINRULE_COURSE_ID (deploy/hub/jupyterhub_config.py).
"""
import os

c = get_config()  # noqa: F821
if os.environ.get("CHAINRULE_EXCHANGE"):
    c.Exchange.root = os.environ["CHAINRULE_EXCHANGE"]
c.CourseDirectory.course_id = os.environ.get("CHAINRULE_COURSE_ID", "chainrule")
