"""autograder: the instructor pipeline around nbgrader (release, collect, grade, feedback, export,
report, verify). Verdicts are decided in the grader's process, never inside a student's kernel."""
import sys

# jsonschema (under nbformat and nbgrader) imports the optional `rfc3987_syntax` format checker, which
# builds a grammar at import time (seconds); notebook schemas never use it, so it is skipped.
sys.modules.setdefault("rfc3987_syntax", None)
