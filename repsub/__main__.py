import os
import sys

from .cli import main

try:
    sys.exit(main())
except BrokenPipeError:  # the reader stopped early ('... | head'): not an error of the step
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)
