"""Build a Gradescope autograder zip: ``setup.sh`` + ``run_autograder`` + this project.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when it
builds the image, then ``run_autograder`` for every submission, which must write
``/autograder/results/results.json``. ``AUTOGRADER_ROOT`` (default ``/autograder``)
lets the same script run against a local folder laid out the same way.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from grader import __version__

PROJECT_PARTS = ("pyproject.toml", "README.md", "grader", "solutions", "exercises")

SETUP = """#!/usr/bin/env bash
# Runs once, as root, when Gradescope builds the autograder image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3-pip python3-venv > /dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
/autograder/venv/bin/pip install -q "torch=={torch}" --index-url https://download.pytorch.org/whl/cpu \\
  || /autograder/venv/bin/pip install -q "torch=={torch}"
/autograder/venv/bin/pip install -q /autograder/source/project
"""

RUN = r"""#!/usr/bin/env bash
# Runs for every submission: grades /autograder/submission into results/results.json.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$ROOT/results"
target="$ROOT/submission"
shopt -s nullglob
modules=("$target"/*.py "$target"/*/*.py)
notebooks=("$target"/*.ipynb)
archives=("$target"/*.zip)
if [ ${#modules[@]} -eq 0 ] && [ ${#notebooks[@]} -eq 1 ]; then target="${notebooks[0]}"; fi
if [ ${#modules[@]} -eq 0 ] && [ ${#notebooks[@]} -eq 0 ] && [ ${#archives[@]} -eq 1 ]; then target="${archives[0]}"; fi
cd "$ROOT"
if ! error=$("$PYTHON" -m grader grade "$target" --format gradescope -o "$ROOT/results/results.json" 2>&1 >/dev/null); then
  message=$(printf '%s' "$error" | tail -n 1 | sed 's/\\/\\\\/g; s/"/\\"/g')
  printf '{"score": 0, "output": "Your submission could not be graded: %s", "visibility": "visible", "tests": []}\n' \
    "$message" > "$ROOT/results/results.json"
fi
"""


def build(target: Path, project_root: Path) -> list[str]:
    """Write the autograder zip; returns the names it holds."""
    names: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP.format(torch=torch.__version__.split("+")[0])), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
            names.append(name)
        for part in PROJECT_PARTS:
            source = project_root / part
            files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" in file.parts or file.suffix == ".pyc":
                    continue
                name = f"project/{file.relative_to(project_root).as_posix()}"
                archive.write(file, name)
                names.append(name)
        archive.writestr("project/VERSION", __version__ + "\n")
    return names
