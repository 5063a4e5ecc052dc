"""Teaching tools built on the engine: finite-difference checks, graded exercises, the step-through view,
student/teacher editions of the course (course.py) and grading a class (grade.py, grade_worker.py)."""
