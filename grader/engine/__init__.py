"""The engine: grades one submission against a course (knows nothing of transformers)."""
