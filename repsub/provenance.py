"""Provenance records: what made a file, from what, with which code and settings.

Each command writes ``<output>.prov.json`` beside every output it makes: first
marked ``in_progress`` (before any output is written), then ``complete`` with
the sha256 of every input and output once all outputs exist. A step killed
half-way therefore leaves outputs whose records say they are unfinished.

Paths in a record are relative to the folder that holds the record, so a
results tree audits the same from any working directory and after it is moved.
"""

import contextlib
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from .errors import UserError
from .io import files_digest, sha256_file, write_json

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scipy", "matplotlib", "pingouin", "scikit-learn")
SUFFIX = ".prov.json"
FORMAT = 2
PATHS = "relative to the folder of this record"


def _git(*args):
    root = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def package_digest() -> str:
    """sha256 over the repsub package's sources (each file's path and sha256, in path order):
    names the code that ran where the tree is no git checkout (a copied tree, a cluster's
    scratch copy), and tells a dirty tree's code apart from the commit's."""
    root = Path(__file__).resolve().parent
    return files_digest(root, sorted(root.rglob("*.py")))


def code_version() -> dict:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": _git("rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status),
            "repsub_sha256": package_digest()}


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def now(precise=False) -> str:
    """UTC time, to the second (or to the microsecond, for job logs that are compared)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds" if precise else "seconds")


def record_path(path) -> Path:
    return Path(str(path) + SUFFIX)


def _code(code) -> str:
    """The audit's name for the code that made a file: its commit and its package digest."""
    name = f"commit {code['git_commit']}" if code.get("git_commit") else "no git commit"
    name += ", dirty tree" if code.get("git_dirty") else ""
    return name + (f", repsub {code['repsub_sha256'][:12]}" if code.get("repsub_sha256") else "")


def _relative(path, folder) -> str:
    return os.path.relpath(Path(path).resolve(), folder)


def begin_records(command, outputs, started):
    """Mark every output as being made, before the step writes any of them; return the
    folders this creates (deepest first), so that a failed step can remove them again."""
    created = []
    for path in outputs:
        folder = Path(path).resolve().parent
        while not folder.exists() and folder not in created:
            created.append(folder)
            folder = folder.parent
    created.sort(key=lambda folder: len(folder.parts), reverse=True)
    for path in outputs:
        write_json(record_path(path), {"format": FORMAT, "status": "in_progress", "command": command,
                                       "started": started, "host": platform.node(), "pid": os.getpid()})
    return created


def input_digests(paths) -> dict:
    """The sha256 of each input file as the step starts, to check at its end."""
    return {Path(p).resolve(): sha256_file(p) for p in paths if Path(p).is_file()}


def check_made(paths, digests=None):
    """Refuse an input that the workflow made but did not finish, or that changed since: a
    file with a record beside it must have a complete record naming its current sha256.
    A file without a record (a data source, a weights file, a hand-made table) passes."""
    for path in map(Path, paths):
        candidate = record_path(path)
        if not path.is_file() or not candidate.is_file():
            continue
        try:
            record = json.loads(candidate.read_text())
            status, command, outputs = record["status"], record["command"], record.get("outputs", {})
            if not isinstance(outputs, dict):
                raise TypeError("outputs is no mapping")
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise UserError(f"the record {candidate} of {path} is malformed ({type(error).__name__}); delete both "
                            f"and rerun the workflow to make {path.name} again") from None
        if status != "complete":
            raise UserError(f"{path} is unfinished: its step '{command}' started at {record.get('started')} and "
                            f"never finished; rerun the workflow (with --rerun-incomplete) to make it again")
        digest = (digests or {}).get(path.resolve()) or sha256_file(path)
        if outputs.get(path.name) != digest:
            raise UserError(f"{path} changed since its step '{command}' made it (its sha256 differs from its "
                            f"record's); rerun the workflow to make it again")


def finish_records(command, parameters, inputs, outputs, started, device=None, precision=None, at_start=None,
                   fields=None, external=()):
    """Replace the in-progress records with complete ones (after all outputs exist). An input
    whose bytes differ from ``at_start`` (its digests when the step began) was replaced while
    the step read it: the outputs may come from either version, so the step fails instead.
    ``fields`` go into every record as they are (training's ``resumed_from``); ``external``
    inputs (files from outside the workflow) are hashed without a record of their own."""
    written = [Path(p) for p in outputs if Path(p).is_file()]
    inputs, external = [Path(p) for p in inputs], [Path(p) for p in external]
    digests = {p.resolve(): sha256_file(p) for p in [*inputs, *external, *written]}
    changed = [str(p) for p, digest in (at_start or {}).items() if digests.get(p, digest) != digest]
    if changed:
        raise UserError(f"{changed[0]} changed while the step '{command}' ran, so its outputs may come from either "
                        f"version; rerun the step")
    shared = {
        "format": FORMAT, "status": "complete", "paths": PATHS, "command": command, "argv": sys.argv,
        "cwd": os.getcwd(), "parameters": parameters, "code": code_version(), "packages": package_versions(),
        "device": device, "precision": precision, "host": platform.node(), "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": started, "ended": now(), **(fields or {}),
    }
    for path in written:
        folder = path.resolve().parent
        write_json(record_path(path), {
            **shared,
            "inputs": {_relative(p, folder): digests[p.resolve()] for p in inputs},
            **({"external": {_relative(p, folder): digests[p.resolve()] for p in external}} if external else {}),
            "outputs": {_relative(p, folder): digests[p.resolve()] for p in written},
        })
    for path in outputs:  # declared outputs the step had no reason to write (e.g. streamed splits)
        if not Path(path).is_file():
            record_path(path).unlink(missing_ok=True)


def set_aside(outputs):
    """Move a rerun's previous outputs and their records aside (renamed in their own folder, so
    bytes and times stay as they were) before the step marks anything; return the moves, which
    :func:`put_back` undoes if the step fails and :func:`drop` forgets once it has succeeded."""
    moved = []
    for path in outputs:
        for name in (Path(path), record_path(path)):
            if name.is_file():
                kept = name.with_name(f".{name.name}.kept{os.getpid()}")
                os.replace(name, kept)
                moved.append((name, kept))
    return moved


def put_back(moved):
    """Return the files :func:`set_aside` moved to their places (after :func:`discard`)."""
    for name, kept in moved:
        with contextlib.suppress(OSError):
            os.replace(kept, name)


def drop(moved):
    for _, kept in moved:
        with contextlib.suppress(OSError):
            kept.unlink()


def finished_elsewhere(path, command):
    """The step other than ``command`` whose finished output ``path`` is, or None: a step
    must never write over another step's file."""
    candidate = record_path(path)
    try:
        record = json.loads(candidate.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    made_by = record.get("command") if isinstance(record, dict) and record.get("status") == "complete" else None
    return made_by if made_by not in (None, command) else None


UNFINISHED = ".unfinished"  # under the results folder: what set_aside_unfinished moved
IN_PROGRESS_MAX_BYTES = 1024  # begin_records writes about 250 bytes; a complete record is over 2 KB


def _running_here(record):
    """Whether the step that wrote ``record`` still runs on this host (its pid is alive)."""
    if record.get("host") != platform.node() or not isinstance(record.get("pid"), int):
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's
        return True
    return True


def set_aside_unfinished(results, dry_run=False) -> tuple[int, Path | None]:
    """Move every output under ``results`` whose record says its step never finished (a killed
    job, or one whose outputs a read-only folder kept), every file made from one (by the
    records' inputs), and the previous outputs a killed hand-run step had set aside, with their
    records, into ``results/.unfinished/<time>/``. Snakemake never reads these records, and
    plans a job again only when its outputs, or those of a job after it, are missing. A step
    still running on this host is left alone. Returns the number of files moved and the folder
    (with ``dry_run``, the number it would move, and None: a dry run changes nothing)."""
    results = Path(results)
    if not results.is_dir():
        return 0, None
    records = [p for p in results.rglob("*" + SUFFIX) if UNFINISHED not in p.relative_to(results).parts]
    stale, made = set(), {}
    for candidate in records:
        try:  # an in-progress record holds six short fields; a complete one, kilobytes: read only the small
            text = candidate.read_text() if candidate.stat().st_size < IN_PROGRESS_MAX_BYTES else ""
            record = json.loads(text) if '"in_progress"' in text else None
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and record.get("status") == "in_progress" and not _running_here(record):
            stale.add(Path(str(candidate)[:-len(SUFFIX)]).resolve())
    if stale:  # what was made from an unfinished file is made again after it
        for candidate in records:
            with contextlib.suppress(OSError, ValueError, UnicodeDecodeError, AttributeError, TypeError):
                inputs = json.loads(candidate.read_text()).get("inputs", {})
                made[Path(str(candidate)[:-len(SUFFIX)]).resolve()] = {(candidate.parent / i).resolve() for i in inputs}
        grew = True
        while grew:
            before = len(stale)
            stale |= {output for output, inputs in made.items() if inputs & stale}
            grew = len(stale) > before
    moving = [path for output in sorted(stale) for path in (record_path(output), output) if path.exists()]
    moving += [p for p in results.rglob(".*.kept*") if UNFINISHED not in p.relative_to(results).parts]
    if not moving or dry_run:
        return len(moving), None
    target = results / UNFINISHED / now().replace(":", "-")
    for path in moving:
        destination = target / path.resolve().relative_to(results.resolve())
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, destination)
    return len(moving), target


def discard(outputs, created_folders=()):
    """Remove a failed step's outputs, their records and the folders made for them."""
    for path in outputs:
        for name in (Path(path), record_path(path)):
            with contextlib.suppress(OSError):
                name.unlink(missing_ok=True)
    for folder in created_folders:
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            folder.rmdir()


FIELD_TYPES = {"command": str, "ended": str, "started": str, "code": dict, "inputs": dict, "outputs": dict,
               "external": dict}


def _check_types(record):
    """A record with the right keys can still hold the wrong kinds of values: say which."""
    for key, kind in FIELD_TYPES.items():
        if key in record and not isinstance(record[key], kind):
            raise TypeError(f"{key} is a {type(record[key]).__name__}, not a {kind.__name__}")
    for key in ("inputs", "outputs", "external"):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in record.get(key, {}).items()):
            raise TypeError(f"{key} must map file names to sha256 strings")
    if not all(isinstance(v, (str, bool, type(None))) for v in record["code"].values()):
        raise TypeError("code must hold a commit, a dirty flag and a digest")


class Audit:
    """Walk from a file back to the data, re-checking every hash every record names."""

    def __init__(self):
        self.lines, self.ok, self.visited = [], True, set()
        self.records = {}  # every file on the chain that has a complete record -> that record

    def fail(self, line):
        self.ok = False
        self.lines.append(line)

    def read_record(self, path, indent):
        """The complete record of ``path``, or None after saying why there is none."""
        candidate = record_path(path)
        if not candidate.is_file():
            self.fail(f"{indent}{path}: NO RECORD ({candidate.name} is missing: the file was not made by "
                      f"repsub, or its record was deleted)")
            return None
        try:
            record = json.loads(candidate.read_text())
            if record.get("format") != FORMAT:
                raise ValueError("written by another version of repsub")
            if record["status"] != "complete":
                self.fail(f"{indent}{path}: INCOMPLETE (its step '{record['command']}' started at "
                          f"{record['started']} and never finished)")
                return None
            missing = {"command", "ended", "code", "inputs", "outputs"} - record.keys()
            if missing:
                raise KeyError(f"no {', '.join(sorted(missing))}")
            _check_types(record)
            return record
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            self.fail(f"{indent}{path}: MALFORMED RECORD {candidate.name} ({type(error).__name__}: {error})")
            return None

    def visit(self, path, depth=0):
        path = Path(path).resolve()
        self.visited.add(path)
        indent = "  " * depth
        record = self.read_record(path, indent)
        if record is None:
            return
        self.records[path] = record
        folder = path.parent
        expected = record["outputs"].get(_relative(path, folder))
        actual = sha256_file(path) if path.is_file() else None
        state = "ok" if actual is not None and actual == expected else (
            "MISSING" if actual is None else "CHANGED since it was made")
        line = f"{indent}{path}: {state}; made by '{record['command']}' at {record['ended']} ({_code(record['code'])})"
        self.fail(line) if state != "ok" else self.lines.append(line)
        for name, digest in record["inputs"].items():
            source = (folder / name).resolve()
            now_digest = sha256_file(source) if source.is_file() else None
            if now_digest != digest:  # checked for every record, even when the input was visited before
                self.fail(f"{indent}  {source}: input {'MISSING' if now_digest is None else 'CHANGED'} since "
                          f"{path.name} was made from it")
            if source not in self.visited:
                self.visit(source, depth + 1)
        for name, digest in record.get("external", {}).items():  # from outside the workflow: no record
            source = (folder / name).resolve()
            now_digest = sha256_file(source) if source.is_file() else None
            state = "ok" if now_digest == digest else "MISSING" if now_digest is None else "CHANGED"
            line = f"{indent}  {source}: external input {state}" + ("" if state == "ok" else f" since {path.name} "
                                                                                            f"was made from it")
            self.fail(line) if state != "ok" else self.lines.append(line)
        if record["command"] == "prepare" and path.name == "manifest.json" and state == "ok":
            self.check_source(path, indent + "  ", record.get("cwd"))

    def check_source(self, manifest_path, indent, cwd=None):
        """The end of the chain: the data source must still hash to what prepare recorded. A
        relative data root is read from the folder prepare ran in (the record's ``cwd``), not
        from wherever the audit runs."""
        from .data import source_digest

        manifest = json.loads(manifest_path.read_text())
        options = dict(manifest["options"])
        if options.get("root") and not Path(options["root"]).is_absolute() and isinstance(cwd, str):
            options["root"] = str(Path(cwd) / options["root"])
        where = options.get("root", "scikit-learn's digits")
        try:
            digest = source_digest(manifest["source"], options)
        except (UserError, OSError) as error:
            self.fail(f"{indent}source {manifest['source']} at {where}: UNAVAILABLE ({error})")
            return
        if digest == manifest["source_sha256"]:
            self.lines.append(f"{indent}source {manifest['source']} at {where}: ok")
        else:
            self.fail(f"{indent}source {manifest['source']} at {where}: CHANGED since it was prepared")


def audit(path) -> Audit:
    """The walk back from ``path``: its report lines, whether everything checks out, and
    the record of every file on the way."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; give the path of a file under the results folder")
    walk = Audit()
    walk.visit(path)
    return walk
