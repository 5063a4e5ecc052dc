"""Teaching tools built on the engine: finite-difference checks, graded exercises, the step-through view."""
