"""nbgrader configuration for the chainrule course (one file, as in nbgrader's docs layout).

The course root is this folder: source/<assignment>/<assignment>.ipynb are the instructor's notebooks,
release/ the student copies, submitted/, autograded/ and feedback/ are made by `python -m autograder`.
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.course_id = "chainrule"
c.CourseDirectory.db_url = os.environ.get("CHAINRULE_DB_URL", "sqlite:///" + os.path.join(here, "gradebook.db"))

# Assignments, in teaching order; one notebook each, named like its folder.
ASSIGNMENTS = ["01_scalar_rules", "02_jacobians", "03_elementwise", "04_chain_rules", "05_neuron_gradient",
               "06_backprop"]
c.CourseDirectory.assignment_id = ""

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# Student copies are released without outputs; the site executes its own reader copies.
c.ClearOutput.enabled = True
c.Execute.timeout = 60
