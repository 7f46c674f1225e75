#!/usr/bin/env bash
# Wheels for the packages this project needs that a GPU image may lack (Python 3.12, x86-64),
# downloaded into .whl/ (ignored by git) so that they can travel with the working tree.
# On the GPU machine, before benchmarks/gpu_check.py:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  greenlet nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py jupyter-core traitlets \
  platformdirs
ls .whl
