"""The ``grader`` command line: list, check, grade, batch, release, selftest, gradescope."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from grader import __version__
from grader.sandbox.zygote import InfrastructureError

DEVICE = click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
    help="Where the inputs live while your functions run.",
)


class GraderError(click.ClickException):
    """A problem the user can fix; printed as one line."""


class GraderFault(GraderError):
    """The grader itself failed (never the submission's fault); printed as one line, exit 3."""

    exit_code = 3

    def __init__(self, cause: object) -> None:
        super().__init__(f"the grader failed (not the submission's fault): {cause}")


def _require_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise GraderError(f"--device cuda: CUDA is not available here (torch {torch.__version__}); use --device cpu")


@contextlib.contextmanager
def _zygote_first(channels: int = 1) -> Iterator[tuple[Any, Path]]:
    """``(zygote, workdir)``, started before this process imports torch (the zygote imports
    it meanwhile); stopped and removed on the way out."""
    from grader.sandbox.zygote import Zygote, make_workdir

    workdir = make_workdir()
    zygote = Zygote(workdir, channels=channels)
    try:
        yield zygote, workdir
    finally:
        zygote.close()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _grading(exercises: tuple[str, ...], device: str = "cpu", handout: bool = False,
             error: Callable[[str], click.ClickException] = GraderError) -> Iterator[tuple]:
    """``(course, chosen exercises or None, grader)``: the sandbox starts first (it imports
    torch meanwhile), then the course loads. In a student hand-out, its recordings load too."""
    with _zygote_first() as (zygote, workdir):
        from grader.engine.course import load_course
        from grader.commands.release import installed_handout
        from grader.engine.runner import Grader

        course = load_course()
        try:
            chosen = course.select(exercises) if exercises else None
        except KeyError as unknown:
            raise error(f"unknown exercise {unknown.args[0]}; `grader list` shows them") from None
        processes = min(2, os.cpu_count() or 1)
        local = installed_handout() if handout else None
        with Grader(course, device=device, zygote=zygote, workdir=workdir, processes=processes,
                    handout=local) as grader, _examples_kept(official=local is None):
            yield course, chosen, grader


def _examples_kept(official: bool):
    """The official grader reads the examples this machine has drawn before, and keeps new ones."""
    from grader.engine.fingerprint import course_fingerprint
    from grader.engine.examples import BOOK, examples_file

    return BOOK.kept_in(examples_file(course_fingerprint()) if official else None)


def _grade(path: Path, device: str, exercises: tuple[str, ...]):
    """Grade one submission (as a hand-out does, when this is one). A fault of the grader's
    own ends the command with one line and no report."""
    from grader.engine.submission import SubmissionError

    try:
        with _grading(exercises, device, handout=True) as (_, chosen, grader):
            try:
                return grader.grade(path, chosen)
            except SubmissionError as error:
                raise GraderError(str(error)) from None
    except InfrastructureError as fault:
        raise GraderFault(fault) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grader")
def cli() -> None:
    """Grade implementations of the building blocks of transformers.

    Students run `grader check` on their exercises folder; instructors run
    `grader grade` on a submission (a folder, a .zip or a .ipynb notebook).
    """


@cli.command("list")
def list_exercises() -> None:
    """The exercises, their functions, checks and points."""
    from grader.engine.course import load_course

    from grader.commands.release import hidden_checks

    course = load_course()
    hidden = hidden_checks() or {}
    width = max(len(e.name) for e in course.exercises)
    click.echo(f"{'exercise':<{width}}  points  checks  builds on")
    for exercise in course.exercises:
        uses = ", ".join(exercise.uses) or "-"
        points = exercise.max_score + sum(p for _, p in hidden.get(exercise.name, []))
        checks = len(exercise.checks) + 1 + len(hidden.get(exercise.name, []))
        click.echo(f"{exercise.name:<{width}}  {points:>6g}  {checks:>6}  {uses}")
    kept_back = [p for checks in hidden.values() for _, p in checks]
    click.echo(f"{'total':<{width}}  {course.max_score + sum(kept_back):>6g}")
    if kept_back:
        click.echo(f"({len(kept_back)} hidden checks, {sum(kept_back):g} points, are graded only by your instructor)")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("exercises"), required=False)
@click.option("-e", "--exercise", "exercises", multiple=True, metavar="NAME",
              help="Only this exercise (module, function or module.function); repeatable.")
@DEVICE
def check(path: Path, exercises: tuple[str, ...], device: str) -> None:
    """Check your work (default: ./exercises) and explain what to fix."""
    from grader.reports import render

    if not path.exists():
        raise GraderError(f"{path}: no such file or folder (run this where your exercises/ folder is, or give its path)")
    _require_device(device)
    report = _grade(path, device, exercises)
    click.echo(render(report, "text", color=sys.stdout.isatty()), nl=False)


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html", "gradescope"]),
              default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write the report here.")
@click.option("-e", "--exercise", "exercises", multiple=True, metavar="NAME", help="Only this exercise; repeatable.")
@DEVICE
def grade(submission: Path, fmt: str, output: Path | None, exercises: tuple[str, ...], device: str) -> None:
    """Grade one submission (folder, .zip or .ipynb) and write a report."""
    from grader.reports import render

    if not submission.exists():
        raise GraderError(f"{submission}: no such file or folder")
    if output is not None and not output.parent.exists():
        raise GraderError(f"{output.parent}: no such folder for the report")
    _require_device(device)
    report = _grade(submission, device, exercises)
    text = render(report, fmt, color=output is None and fmt == "text" and sys.stdout.isatty())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{report.submission}: {report.score:g} / {report.max_score:g} -> {output}", err=True)


@cli.command()
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for the reports, gradebook.csv and the summary.")
@click.option("--workers", type=click.IntRange(1, 256), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Submissions graded at the same time.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Grade on a Dask cluster (e.g. tcp://HOST:8786) instead of local processes.")
@DEVICE
def batch(submissions: Path, out: Path, workers: int, scheduler: str | None, device: str) -> None:
    """Grade every submission in a folder (folders, zips, notebooks, a Canvas export).

    Results are cached by content: running the same command again after an
    interruption, or with new submissions, grades only what is new.
    """
    if not submissions.is_dir():
        raise GraderError(f"{submissions}: no such folder")
    if out.resolve() == submissions.resolve() or submissions.resolve() in out.resolve().parents:
        raise GraderError("the output folder must not be inside the submissions folder")
    _require_device(device)
    # On a cluster the workers have their own sandboxes; here the zygote starts first.
    sandbox = contextlib.nullcontext((None, None)) if scheduler else _zygote_first(max(1, workers))
    with sandbox as (zygote, _):
        from grader.engine.course import load_course

        _batch(submissions, out, workers, scheduler, device, load_course(), zygote)


def _batch(submissions: Path, out: Path, workers: int, scheduler: str | None, device: str, course, zygote) -> None:
    from grader.commands.batch import run_batch

    bar = None
    if sys.stderr.isatty():
        bar = click.progressbar(length=1, label="grading", file=sys.stderr, show_pos=True, show_eta=True)

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

    from grader.commands.batch import BatchStopped

    try:
        result = run_batch(course, submissions, out, workers=workers, device=device, progress=progress,
                           scheduler=scheduler, zygote=zygote)
    except (BatchStopped, InfrastructureError) as fault:
        raise GraderFault(fault) from None
    except RuntimeError as error:
        raise GraderError(str(error)) from None
    if bar is not None:
        bar.render_finish()
    total = len(result.reports)
    click.echo(
        f"{total} submissions: {result.graded} graded, {result.cached} from the cache, "
        f"{len(result.unreadable)} unreadable, {len(result.failed)} failed to grade, in {result.seconds:.1f} s "
        f"-> {out / 'gradebook.csv'}, {out / 'summary.html'}",
        err=True,
    )
    if result.failed:
        raise GraderFault(
            f"{len(result.failed)} submission(s) could not be graded ({result.failed[0][0]}: {result.failed[0][1]}); "
            "they are marked 'failed to grade', not scored; run the same command again to retry them"
        )


@cli.command("gradescope")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
def gradescope_zip(target: Path) -> None:
    """Build a Gradescope autograder zip (setup.sh, run_autograder, the grader and the course)."""
    from grader.commands.autograder import build

    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise GraderError("the grader's project folder (with pyproject.toml) was not found; run from a source checkout")
    if not target.parent.exists():
        raise GraderError(f"{target.parent}: no such folder")
    names = build(target, root)
    click.echo(f"{target}: {len(names)} files (upload it as the autograder of a programming assignment)", err=True)


@cli.command("release")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Replace OUT if it already holds files.")
def release(out: Path, force: bool) -> None:
    """Build the student hand-out in OUT: stubs, notebooks, grader and public checks, no solutions."""
    from grader.engine.fingerprint import reference_folders
    from grader.commands.release import ReleaseError, build_handout

    folders = reference_folders()
    if not folders:
        raise GraderError("the reference solutions are not importable here (is this already a hand-out?)")
    if out.exists() and not out.is_dir():
        raise GraderError(f"{out}: exists and is not a folder")
    try:
        summary = build_handout(out, folders[0], force=force)
    except ReleaseError as error:
        raise GraderError(str(error)) from None
    click.echo(
        f"{out}: {summary.exercises} exercises, {summary.public_checks} public checks on {summary.examples} recorded "
        f"inputs ({summary.reference_results} reference results), {summary.hidden_checks} hidden checks kept back, "
        f"{len(summary.notebooks)} notebooks. Students: `pip install {out}` then `grader check`.",
        err=True,
    )


@cli.command("selftest")
@click.option("--mistakes", "mistakes", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="A catalogue of known mistakes: modules defining MUTANTS.  [default: the course's own, "
                   "grader/concepts/<concept>/mistakes.py]")
@click.option("-e", "--exercise", "exercises", multiple=True, metavar="NAME",
              help="Only this exercise (module, function or module.function); repeatable.")
def selftest(mistakes: Path | None, exercises: tuple[str, ...]) -> None:
    """Check the course: the reference scores 100%, the stubs 0, every known mistake is
    caught on its own exercise only, and the drawn inputs reach every declared edge.

    Exit status 0 when all of it holds, 1 otherwise (2 when it could not run).
    """
    from grader.engine.mistakes import MistakeError, course_catalogue, load_mistakes

    def failure(message: str) -> GraderError:
        error = GraderError(message)
        error.exit_code = 2  # 1 means: the course has a problem
        return error

    try:
        import exercises as stubs_package
        import solutions
    except ImportError:
        raise failure("the reference solutions and the stubs are not importable here "
                      "(run this in the course's project, not in a hand-out)") from None
    solutions_dir = Path(solutions.__path__[0])
    exercises_dir = Path(stubs_package.__path__[0])
    if mistakes is None:
        mistakes = course_catalogue()
    elif not mistakes.is_dir():
        raise failure(f"--mistakes {mistakes}: no such folder")

    try:
        mutants = load_mistakes(mistakes)
    except MistakeError as error:
        raise failure(str(error)) from None

    from grader.commands.selftest import run_selftest

    with _grading(exercises, error=failure) as (course, chosen, grader):
        result = run_selftest(course, grader, solutions_dir, exercises_dir, mutants, chosen,
                              echo=click.echo, mistakes_label=str(mistakes))
    if not result.ok:
        sys.exit(1)  # not click's Exit: main() runs click with standalone_mode=False, which returns it


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        _main()
    finally:
        # The interpreter's collections at exit would walk every object torch and the course
        # created (about half a second); nothing the grader leaves behind needs them.
        gc.freeze()


def _main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.Abort:
        click.echo("grader: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        message = error.format_message().splitlines()[0] if error.format_message() else str(error)
        click.echo(f"grader: error: {message}", err=True)
        sys.exit(error.exit_code or 2)
    except KeyboardInterrupt:
        click.echo("grader: interrupted", err=True)
        sys.exit(130)
    except InfrastructureError as fault:  # a fault of ours that no command turned into a message
        click.echo(f"grader: error: the grader failed (not the submission's fault): {fault}", err=True)
        sys.exit(3)
    except Exception as error:  # noqa: BLE001 - the promise is: no traceback
        click.echo(f"grader: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(3)
