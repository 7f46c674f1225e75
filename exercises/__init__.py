"""Student stubs for the transformer-building-blocks exercises.

Replace every ``raise NotImplementedError`` with your implementation, following the
docstrings, then run ``grader check`` to see how you are doing.
"""
