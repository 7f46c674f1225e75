"""Grader for the transformer-building-blocks course."""

__version__ = "0.1.0"
