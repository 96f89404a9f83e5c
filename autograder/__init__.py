"""autograder: the instructor pipeline around nbgrader (release, collect, grade, feedback, export,
report, verify). Verdicts are decided in the grader's process, never inside a student's kernel."""
