"""nbgrader for the instructor's server: the course folder (CHAINRULE_COURSE_ROOT, set by the hub's
spawner) and the course's own settings, so formgrader sees what `python -m autograder` sees."""
import os

c = get_config()  # noqa: F821
root = os.environ.get("CHAINRULE_COURSE_ROOT")
if root and os.path.isfile(os.path.join(root, "nbgrader_config.py")):
    load_subconfig(os.path.join(root, "nbgrader_config.py"))  # noqa: F821
    c.CourseDirectory.root = root
