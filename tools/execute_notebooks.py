#!/usr/bin/env python3
"""Re-execute notebooks in place and store their outputs - what nbval compares against.

    python tools/execute_notebooks.py notebooks/01_fork.ipynb [...]

Each notebook runs in a fresh kernel from its own folder. Timing metadata and saved widget
state are dropped, so that re-running changes only what really changed.
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 300) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for p in paths:
        print(f"executing {p}", flush=True)
        execute(Path(p))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
