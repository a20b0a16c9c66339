"""python -m frost: see frost._cli (docs/cli.md)."""
import sys

from frost._cli import main

if __name__ == "__main__":
    sys.exit(main())
