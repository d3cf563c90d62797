"""Provenance records: what made a file, from what, with which code and settings.

Each command writes ``<output>.prov.json`` beside every output it makes. The
record names its inputs with their sha256, so ``repsub audit`` can walk from
any artifact back to the data and re-check every hash on the way.
"""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from .io import read_json, sha256_file, write_json

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scipy", "matplotlib", "pingouin", "scikit-learn")
SUFFIX = ".prov.json"


def _git(*args):
    root = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def code_version() -> dict:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": _git("rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status)}


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_records(command, parameters, inputs, outputs, started, device=None):
    """Write one record beside each output (after all outputs exist)."""
    record = {
        "command": command,
        "argv": sys.argv,
        "parameters": parameters,
        "inputs": {str(p): sha256_file(p) for p in inputs if p and Path(p).is_file()},
        "outputs": {str(p): sha256_file(p) for p in outputs},
        "code": code_version(),
        "packages": package_versions(),
        "device": device,
        "host": platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": started,
        "ended": now(),
    }
    for path in outputs:
        write_json(str(path) + SUFFIX, record)


def record_for(path):
    """The provenance record of ``path``, or None if it has none."""
    candidate = Path(str(path) + SUFFIX)
    return read_json(candidate) if candidate.is_file() else None


def audit(path, depth=0, seen=None, lines=None):
    """Walk from ``path`` back through the records; return (report lines, ok)."""
    seen = set() if seen is None else seen
    lines = [] if lines is None else lines
    ok = True
    indent = "  " * depth
    record = record_for(path)
    if record is None:
        lines.append(f"{indent}{path}: source file (no provenance record)")
        return lines, ok
    actual = sha256_file(path) if Path(path).is_file() else None
    expected = record["outputs"].get(str(path))
    state = "ok" if actual == expected else ("MISSING" if actual is None else "CHANGED since it was made")
    ok &= state == "ok"
    code = record["code"]
    lines.append(f"{indent}{path}: {state}; made by '{record['command']}' at {record['ended']} "
                 f"(commit {code['git_commit']}{', dirty tree' if code['git_dirty'] else ''})")
    for source, digest in record["inputs"].items():
        if source in seen:
            continue
        seen.add(source)
        now_digest = sha256_file(source) if Path(source).is_file() else None
        if now_digest != digest:
            ok = False
            lines.append(f"{indent}  {source}: input {'MISSING' if now_digest is None else 'CHANGED'} "
                         f"since {path} was made from it")
        _, sub_ok = audit(source, depth + 1, seen, lines)
        ok &= sub_ok
    return lines, ok
