"""A submission's sandboxed workers, and what their start-ups tell about its modules.

:class:`Workers` is the only owner of the workers and of the modules found broken: it
starts them (one that imports every module, one per module, the probe), knows where they
may read and write, collects what they printed and closes them. :class:`ModuleImports`
learns from them, as cheaply as it can, what each module of a submission defines.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterable

import grader
from grader.engine.course import Course
from grader.engine.examples import examples_folder
from grader.engine.fingerprint import reference_folders
from grader.engine.recording import reference_call
from grader.engine.submission import Submission
from grader.sandbox import landlock
from grader.sandbox.client import Limits, WorkerClient, WorkerConfig, WorkerFailure, Zygote, close_all

TOGETHER = "*"  # the key, among the workers by module, of the one that imported them all


class Workers:
    """The workers of the submission being graded, by module, and the modules found broken."""

    def __init__(
        self,
        course: Course,
        zygote: Zygote,
        workdir: Path,
        device_name: str,
        limits: Limits,
        device_sharers: int,
        private: Iterable[Path] = (),
    ) -> None:
        """``device_sharers``: how many workers may be alive on the device at once (each
        worker's share of device memory leaves room for all of theirs). ``private``: folders
        no worker may read, besides the grader's and the reference's own (a batch's
        submissions and output folders)."""
        self.course = course
        self.zygote = zygote
        self.workdir = workdir
        self.device_name = device_name
        self.limits = limits
        self.device_sharers = device_sharers
        self.private = [Path(p) for p in private]
        self.submission: Submission | None = None
        self.broken: dict[str, str] = {}  # module -> why it cannot be graded
        self.output: list[str] = []
        self.sandbox_facts: dict = {}
        self.definitions_only = False  # a slow notebook: workers run only its imports and definitions
        self._workers: dict[str, WorkerClient] = {}
        self._paths: tuple[list[str], list[str]] | None = None
        self._original: Path | None = None  # where the submission being graded came from

    def begin(self, submission: Submission, original: Path) -> None:
        """Start on a new submission (loaded from ``original``): nothing known of it yet."""
        self.submission = submission
        self._original = Path(original)
        self.broken = {}
        self.output = []
        self.definitions_only = False

    # ------------------------------------------------------------------ where they may go

    def deny_paths(self) -> list[str]:
        """What no worker may read, even where it lies inside a folder workers read (a
        package installed into site-packages): the grader, the reference, the examples kept
        on this machine, the folders :attr:`private` names."""
        roots = {Path(grader.__file__).resolve().parent, *reference_folders(), *self.private}
        local = Path.cwd() / "solutions"
        if local.is_dir():
            roots.add(local)
        roots.add(examples_folder())
        return sorted(str(Path(r).resolve()) for r in roots)

    def worker_paths(self) -> tuple[list[str], list[str]]:
        """``(readable, writable)`` for these workers (see :func:`landlock.worker_paths`),
        computed once; also never the submission's original location, if it lies inside."""
        if self._paths is None:
            self._paths = landlock.worker_paths(self.deny_paths(), cuda=self.device_name.startswith("cuda"))
        readable, writable = self._paths
        original = str(self._original.resolve()) if self._original is not None else None
        if original and any(original == p or original.startswith(p.rstrip("/") + "/") for p in readable):
            readable = landlock.allowed_roots(readable, [original])
        return readable, writable

    # ------------------------------------------------------------------ starting and closing

    def start_worker(self, module: str | None, substitute: list[str], import_all: bool = False) -> WorkerClient:
        submission = self.submission
        assert submission is not None
        scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=self.workdir))
        readable, writable = self.worker_paths()
        course = self.course
        present = submission.present if submission.kind == "package" else set(course.modules)
        stand_ins = {m: course.functions_of(m) for m in course.modules if m not in present or m in self.broken}
        if import_all:
            imports = [m for m in course.modules if m not in stand_ins]
        else:
            imports = [module] if module and module not in stand_ins else []
        config = WorkerConfig(
            submission_dir=str(submission.directory),
            scratch_dir=str(scratch),
            modules=list(course.modules),
            device=self.device_name,
            import_modules=imports,
            stand_ins=stand_ins,
            functions={m: course.functions_of(m) for m in course.modules},
            substitute=substitute,
            notebook_cells=submission.cells,
            readable_paths=readable,
            writable_paths=writable,
            memory_bytes=self.limits.memory_bytes,
            device_sharers=self.device_sharers,
            load_seconds=self.limits.load_seconds,
            notebook_definitions_only=self.definitions_only,
        )
        worker = WorkerClient(self.zygote, config, self.limits, course.reference, reference_call)
        self.sandbox_facts = worker.sandbox_facts or self.sandbox_facts
        return worker

    def shared_worker(self, module: str) -> WorkerClient:
        """A live worker that imported ``module``, started if needed.

        The exercises of a module share it (each call names the prerequisites to
        replace): a worker costs a fork, its pages copied as it runs, and loading the
        module. Modules never share one, so what one module's import does (say,
        torch.set_default_dtype) cannot cost another's exercises; checks that pass in the
        worker of every module (:meth:`start_together`) never need it.
        """
        worker = self._workers.get(module)
        if worker is None or not worker.alive:
            if worker is not None:
                self.collect_output(worker)
                worker.close()
            worker = self._workers[module] = self.start_worker(module, [])
        return worker

    def start_together(self) -> dict[str, dict]:
        """Start one worker that imports every module; what each defines if all import.

        Checks are tried there first: a correct submission then costs one worker, not one
        per module. Only a check that fails there is run again, and reported, in its
        module's own worker, so that what one module does to the interpreter cannot cost
        another's exercises. If a module fails to import here, this worker is not used and
        nothing is concluded from it (empty dict).
        """
        try:
            worker = self.start_worker(None, [], import_all=True)
        except WorkerFailure:
            return {}
        self._workers[TOGETHER] = worker
        modules = worker.modules
        if modules and all(isinstance(info, dict) and info.get("ok") for info in modules.values()):
            return modules
        self.close_worker(TOGETHER)
        return {}

    def together_worker(self) -> WorkerClient | None:
        """The worker that imported every module, while it runs (it is never restarted)."""
        worker = self._workers.get(TOGETHER)
        return worker if worker is not None and worker.alive else None

    def close_worker(self, module: str) -> None:
        worker = self._workers.pop(module, None)
        if worker is not None:
            self.collect_output(worker)
            worker.close()

    def close_all(self) -> None:
        for worker in self._workers.values():
            self.collect_output(worker)
        close_all(list(self._workers.values()))
        self._workers.clear()

    def forget_all(self) -> None:
        """Drop the workers without closing them (a forked grading process: they are its parent's)."""
        self._workers = {}
        self.output = []

    def collect_output(self, worker: WorkerClient) -> None:
        if not worker.alive:
            worker.output.join(timeout=0.5)
        text = worker.output.text()
        if text.strip() and text not in self.output:
            self.output.append(text)

    # ------------------------------------------------------------------ what the modules define

    def import_alone(self, module: str) -> dict | None:
        """What ``module`` defines, from its own worker (which imports it alone); None if it
        failed there (it is then broken, or the probe must tell whose fault it is)."""
        try:
            worker = self.shared_worker(module)
        except WorkerFailure as failure:
            if failure.module is not None:
                self.broken[failure.module] = failure.message
            return None
        info = worker.modules.get(module)
        if isinstance(info, dict) and info.get("ok"):
            return info
        self.close_worker(module)
        return None

    def probe(self) -> dict[str, dict]:
        """Import every module once; learn which fail and what each defines."""
        while True:
            try:
                worker = self.start_worker(None, [], import_all=True)
                break
            except WorkerFailure as failure:
                if self.submission.kind == "notebook":  # one namespace: every module fails alike
                    message = f"the notebook's cells stopped the interpreter: {failure.message}"
                    self.broken.update((module, message) for module in self.course.modules)
                    return {}
                if failure.module is None or failure.module in self.broken:
                    return self._probe_one_by_one()
                self.broken[failure.module] = failure.message
        modules = worker.modules
        self.collect_output(worker)
        worker.close()
        return self._record_probe(modules)

    def _probe_one_by_one(self) -> dict[str, dict]:
        """A module hung or crashed the interpreter while importing: find which."""
        found: dict[str, dict] = {}
        submission = self.submission
        for module in self.course.modules:
            if module in self.broken or (submission.kind == "package" and module not in submission.present):
                continue
            try:
                worker = self.start_worker(module, [])
            except WorkerFailure as failure:
                self.broken[module] = failure.message
                continue
            found.update(worker.modules)
            self.collect_output(worker)
            worker.close()
        return self._record_probe(found)

    def _record_probe(self, modules: dict[str, Any]) -> dict[str, dict]:
        for module, info in modules.items():
            if isinstance(info, dict) and not info.get("ok"):
                self.broken[module] = error_text(info.get("error"))
        return {m: i for m, i in modules.items() if isinstance(i, dict)}


class ModuleImports:
    """What each module of a package defines, learned from the workers that grade it.

    First from the worker that imports every module together (:meth:`Workers.start_together`).
    If one fails to import there, from each module's own worker, which imports it alone;
    the probe (every module imported in one worker, knowing what failed so far) then runs
    only if a module fails alone too, and settles whose fault it is (a module importing a
    broken one gets a stand-in for it). Reads like the probe's dict: ``get(module)``.
    """

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.known: dict[str, dict] = {}
        self.probed = False
        self.together_tried = False

    def get(self, module: str, default: Any = None) -> Any:
        if not self.together_tried:
            self.together_tried = True
            self.known.update(self.workers.start_together())
        workers = self.workers
        if module not in self.known and not self.probed:
            if module in workers.submission.present and module not in workers.broken:
                info = workers.import_alone(module)
                if info is not None:
                    self.known[module] = info
                else:
                    self.known = workers.probe()
                    self.probed = True
        return self.known.get(module, default)

    def values(self) -> Iterable[dict]:
        return self.known.values()


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        text = f"{error.get('type', 'Error')}: {error.get('message', '')}".rstrip(": ")
        return f"{text} ({error['where']})" if error.get("where") else text
    return str(error)

