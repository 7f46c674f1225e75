"""The sampling concept: its checks (``checks.py``) and known mistakes (``mistakes.py``)."""
