"""The registration a confirmatory run was made under (docs/REGISTRATION.md).

A registration is fixed once committed: later changes are dated addenda below the
heading ``## Addenda``. What a run records is therefore the sha256 of the text above
that heading, the registered text itself, which the addenda never change; the
committed-results test recomputes it from the committed file, a shallow clone included.
"""

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

from .errors import UserError

ADDENDA = "\n## Addenda"


def registered_text(path) -> str:
    """The registration's text above its addenda."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"registration {path} cannot be read ({type(error).__name__}); set registration: to the "
                        f"registration file (docs/REGISTRATION.md) or to null") from None
    return text.split(ADDENDA, 1)[0]


def registration_record(path) -> dict:
    """What a run's checkpoint and provenance record say of its registration."""
    return {"file": str(path), "registered_sha256": hashlib.sha256(registered_text(path).encode()).hexdigest()}


def registered_at(path) -> datetime:
    """The time the registration states it was registered ("Registered 2026-12-05 16:17 UTC")."""
    found = re.search(r"^Registered (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC", registered_text(path), re.M)
    if not found:
        raise UserError(f"registration {path} does not say when it was registered ('Registered YYYY-MM-DD HH:MM "
                        f"UTC' on a line of its own); add the line")
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)


def registration_problems(trainings, path) -> list:
    """What a published study's registered trainings (registration.csv) say against the
    registration at ``path``: a training that recorded another text, or that started before
    the registration; none for a study that keeps to it."""
    expected, since = registration_record(path)["registered_sha256"], registered_at(path)
    problems = []
    for row in trainings.itertuples():
        if row.registered_sha256 != expected:
            problems.append(f"{row.model} seed {row.seed} recorded another registered text ({row.registered_sha256})")
        if datetime.fromisoformat(row.started) < since:
            problems.append(f"{row.model} seed {row.seed} started at {row.started}, before the registration ({since})")
    return problems
