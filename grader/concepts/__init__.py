"""The course: one package per concept, named like its exercise module.

A concept's ``checks.py`` declares its exercises with :func:`grader.author.exercise` and
attaches checks to them (``POSITION`` orders the modules in reports; prerequisites always
come first regardless); its ``mistakes.py`` is the catalogue of known mistakes the checks
must catch; any other module holds helpers (``decoding/toy_lm.py``). A concept imports only
:mod:`grader.author`, ``solutions``, torch and hypothesis.
"""
