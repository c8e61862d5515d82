#!/usr/bin/env python3
"""Re-execute notebooks in place and store their outputs - what nbval compares against.

    python tools/execute_notebooks.py notebooks/01_fork.ipynb [...]

The stored outputs are what a student sees before running anything (on GitHub, nbviewer, a fresh
JupyterLab), so they are made as a student: run as root, this tool executes the notebooks as an
unprivileged user (tools/as_student, in a copy of the tree) and copies the executed notebooks back.
`--as-root` keeps root (only to compare).

Each notebook runs in a fresh kernel from its own folder. Timing metadata is dropped, so that
re-running changes only what really changed; the widgets' state is kept (notebook metadata
"widgets"), so that a viewer that has no kernel can still draw the explorer's picture.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.stored_notebooks import drop_run_metadata  # noqa: E402
from tools import reveal_cells  # noqa: E402


def execute(path: Path, timeout: int = 300, out: Path | None = None) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=True, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    drop_run_metadata(nb, keep_widget_state=True)
    keep_drawn_widgets(nb)
    if path.resolve().parent == ROOT / "notebooks":
        reveal_cells.apply(nb)      # predict, then see: hide again what answers a prediction
    nbformat.write(nb, out or path)


def keep_drawn_widgets(nb) -> None:
    """Keep in the saved widget state only the models a stored output draws (and the models they
    refer to): a widget made but never displayed would only make the notebook bigger."""
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    if not widgets:
        nb.metadata.pop("widgets", None)
        return
    state = widgets["state"]
    todo = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in nb.cells
            if c.cell_type == "code" for o in c.get("outputs", [])
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    keep = set()
    while todo:
        model = todo.pop()
        if model in keep or model not in state:
            continue
        keep.add(model)
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model]["state"]))
    if not keep:
        nb.metadata.pop("widgets", None)
        return
    widgets["state"] = {m: v for m, v in state.items() if m in keep}
    for model in widgets["state"].values():      # a layout's unset (null) properties are its defaults
        if model["model_name"] == "LayoutModel":
            model["state"] = {k: v for k, v in model["state"].items() if v is not None}


def as_student(paths: list[Path]) -> int:
    """Execute ``paths`` as nobody in a copy of the tree, then copy the executed notebooks back."""
    rel = [str(p.resolve().relative_to(ROOT)) for p in paths]
    with tempfile.TemporaryDirectory(prefix="forklab-executed-") as tmp:
        os.chmod(tmp, 0o777)
        cmd = [str(ROOT / "tools" / "as_student"), "python", "tools/execute_notebooks.py", "--out", tmp, *rel]
        if subprocess.run(cmd).returncode != 0:
            return 1
        for r in rel:
            shutil.copyfile(Path(tmp) / r.replace("/", "__"), ROOT / r)
    return 0


def main(argv: list[str]) -> int:
    out = None
    if "--out" in argv:             # the unprivileged half: write each result into this folder
        i = argv.index("--out")
        out = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    as_root = "--as-root" in argv
    paths = [Path(a) for a in argv if a != "--as-root"]
    if not paths:
        print(__doc__)
        return 2
    if os.geteuid() == 0 and not as_root and out is None:
        print(f"executing {len(paths)} notebooks as an unprivileged user (tools/as_student)", flush=True)
        return as_student(paths)
    for p in paths:
        print(f"executing {p}", flush=True)
        execute(p, out=out / str(p).replace("/", "__") if out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
