"""The course's checks: one module per concept, named like its exercise module.

Each module declares its exercises with :func:`grader.course.exercise` and attaches
checks to them; ``POSITION`` orders the modules in reports (prerequisites always
come first regardless).
"""
