"""Reference solutions for the transformer-building-blocks exercises (instructors only)."""
