"""The registration a confirmatory run was made under (docs/REGISTRATION.md).

A registration is fixed once committed: later changes are dated addenda below the
heading ``## Addenda``. What a run records is therefore the sha256 of the text above
that heading, the registered text itself, which the addenda never change; the
committed-results test recomputes it from the committed file, a shallow clone included.
"""

import hashlib
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
