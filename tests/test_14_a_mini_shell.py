"""Chapter 14 (a mini-shell): the committed outputs keep the results the prose relies on, and the notebook keeps the
course's shape (navigation, predictions that are checked, summary linking the exercises)."""
from pathlib import Path

import nbformat

NAME = "14_a_mini_shell"
NB = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / f"{NAME}.ipynb", as_version=4)


def _outputs():
    """The stored text of every code cell's outputs, in order."""
    found = []
    for cell in NB.cells:
        if cell.cell_type == "code":
            found.append("".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs))
    return found


def _output_containing(needle):
    matches = [out for out in _outputs() if needle in out]
    assert matches, f"no stored output contains {needle!r}"
    return matches[0]


def test_shape_navigation_predictions_and_summary():
    first, last = NB.cells[0].source, NB.cells[-1].source
    assert first == last and "[Contents](00_start_here.ipynb)" in first
    sources = [c.source for c in NB.cells]
    assert any("## Overview" in s for s in sources)
    predictions = [i for i, c in enumerate(NB.cells) if c.cell_type == "code" and c.source.startswith("prediction = None")]
    assert len(predictions) >= 6
    for i in predictions:   # every prediction is answered by check_prediction within the next two code cells
        after = [c.source for c in NB.cells[i + 1:] if c.cell_type == "code"][:2]
        assert any("check_prediction(prediction" in s for s in after), NB.cells[i].source
    summary = next(s for s in sources if "## Summary" in s)
    assert f"../exercises/{NAME[:3]}exercises_{NAME[3:]}.ipynb" in summary


def test_no_stored_output_is_an_error():
    for cell in NB.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error"
            assert "Traceback" not in "".join(out.get("text", ""))


def test_dup2_onto_stdout_survives_exec_of_a_close_on_exec_file():
    out = _output_containing("out.txt holds")
    assert "child: before exec, fd 1 close-on-exec: no" in out and "hello" in out
    assert "program: open fds: 0 1 2\n" in out


def test_redirection_order_by_hand_and_by_sh():
    out = _output_containing("by hand:")
    assert out.count('f "out\\nerr\\n"   screen ""') == 2
    assert out.count('f "out\\n"   screen "err\\n"') == 2


def test_each_forgotten_close_hangs_one_kind_of_pipeline():
    out = _output_containing("| wc -l")
    wc, head = out.split("yes | head -n 1")
    for text, hanging in ((wc, ("parent's write end", "reader's write end")),
                          (head, ("parent's read end", "writer's read end"))):
        for line in text.splitlines():
            if "forgot" in line:
                assert ("HANGS" in line) == any(h in line for h in hanging), line


def test_o_cloexec_closes_the_race():
    out = _output_containing("open(O_CLOEXEC)")
    assert "a started program inherited the descriptor" in out
    assert "open(O_CLOEXEC):                0 of 500 started programs inherited it" in out


def test_msh_runs_pipelines_and_redirections():
    out = _output_containing("msh> ")
    assert "msh> seq 1 100 | grep 7 | wc -l\n19\n" in out
    assert "msh> cat /no/such/file 2>&1 > /dev/null | wc -l\n1\n" in out
    assert "msh: frobnicate: No such file or directory\n[exit 127]" in out


def test_exec_failure_pipe_and_subprocess():
    out = _output_containing("/no/such/program  exec failed")
    assert "ENOENT" in out and "/etc/passwd       exec failed: EACCES" in out and "ENOEXEC" in out
    assert "pipe O_CLOEXEC:     spawn(sleep 0.5) returned at once" in out
    assert "pipe not O_CLOEXEC: spawn(sleep 0.5) returned when sleep ended" in out
    sub = _output_containing("OSError:2:")
    assert "pipe2(" in sub and "O_CLOEXEC" in sub


def test_spawn_file_actions_and_system_seen_with_strace():
    spawn = _output_containing('child: openat(AT_FDCWD, "f"')
    assert "child: dup2(1, 2) = 2" in spawn
    system = _output_containing("sigaction(SIGINT, SIG_IGN)")
    assert "sigprocmask(SIG_BLOCK, [CHLD])" in system and "CLONE_VM|CLONE_VFORK" in system
    assert 'execve("/bin/sh", ["sh", "-c", "exit 3"])' in system
