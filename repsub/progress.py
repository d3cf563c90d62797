"""Progress of a long loop: a bar on a terminal, whole lines in a log file.

A job's stderr goes to its log; a carriage-return bar there becomes one endless
line. Off a terminal, progress is a line every tenth of the work or every
30 seconds, whichever comes first, and one at the end.
"""

import sys
import time

from tqdm import tqdm

EVERY_SECONDS = 30


def progress(iterable, desc: str, total: int | None = None):
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if sys.stderr.isatty():
        yield from tqdm(iterable, desc=desc, total=total, mininterval=5)
        return
    start = last_time = time.monotonic()
    last_tenth = 0
    for done, item in enumerate(iterable, 1):
        yield item
        now = time.monotonic()
        tenth = 10 * done // total if total else 0
        if done == total or tenth > last_tenth or now - last_time >= EVERY_SECONDS:
            of = f"/{total} ({100 * done / total:.0f}%)" if total else ""
            print(f"{desc}: {done}{of}, {now - start:.1f} s", file=sys.stderr, flush=True)
            last_time, last_tenth = now, tenth
