"""Teaching tools built on the engine: finite-difference checks, graded exercises, the step-through view,
student/teacher editions of the course (course.py), its browser edition (lite.py), what every tutorial
imports (tutorial_support.py) and grading a class (grade.py, its sandboxed grade_worker.py, sandbox.py,
grade_channel.py, grade_report.py, references.py, autograder.py)."""
