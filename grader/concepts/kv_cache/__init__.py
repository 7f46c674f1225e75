"""The kv_cache concept: its checks (``checks.py``) and known mistakes (``mistakes.py``)."""
