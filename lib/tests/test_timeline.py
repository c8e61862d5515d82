"""forklab.timeline (issue 22, part 1): real programs recorded and drawn as swimlanes.

The SVG is read back with xml.etree: lanes, arrows and marks are counted by their classes; every test checks
that nothing is left behind (process, fd, file)."""
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from forklab.explorer.timeline import CompileError, Timeline, timeline, timeline_c
from forklab.sandbox import trace_events as te
from procs import assert_no_children

CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")
SVG = "{http://www.w3.org/2000/svg}"
SANITIZE = Path(__file__).resolve().parents[2] / "tests" / "nbval_sanitize.cfg"


@pytest.fixture
def leaves_nothing(tmp_path, monkeypatch):
    """No process, fd or temporary file is left after the test (a private temporary folder, so other test
    runs on the machine do not count)."""
    te.binary()
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    fds = set(os.listdir("/proc/self/fd"))
    yield
    assert_no_children()
    assert set(os.listdir("/proc/self/fd")) <= fds
    assert list(private.iterdir()) == []


def program(tmp_path, source: str, flags=()) -> str:
    src = tmp_path / "p.c"
    src.write_text("#define _GNU_SOURCE\n#include <sys/prctl.h>\n" + textwrap.dedent(source))
    exe = tmp_path / "p"
    subprocess.run([CC, "-O1", "-o", str(exe), str(src), *flags], check=True, timeout=120)
    return str(exe)


def drawn(t: Timeline) -> ET.Element:
    assert t.trace.refusal is None, str(t.trace.refusal)
    assert t.trace.returncode == 0, t.trace.stderr
    return ET.fromstring(t.svg())


def having(root, tag: str, cls: str) -> list:
    return [el for el in root.iter(SVG + tag) if cls in el.get("class", "").split()]


def marks(root, kind: str | None = None) -> list:
    return [g for g in having(root, "g", "ev") if kind is None or kind in g.get("class").split()]


def titles(root, kind: str) -> list:
    return [g.find(SVG + "title").text for g in marks(root, kind)]


FORK_TREE = """
    #include <sys/wait.h>
    #include <unistd.h>
    int main(void) {
        pid_t a = fork();
        if (a == 0) {
            pid_t g = fork();
            if (g == 0) { write(1, "g\\n", 2); return 0; }
            waitpid(g, NULL, 0);
            write(1, "a\\n", 2);
            return 0;
        }
        waitpid(a, NULL, 0);
        pid_t b = fork();
        if (b == 0) { write(1, "b\\n", 2); return 0; }
        waitpid(b, NULL, 0);
        write(1, "main\\n", 5);
        return 0;
    }
"""


def test_a_fork_tree_has_a_lane_per_process_an_arrow_per_fork_and_per_reap(tmp_path, leaves_nothing):
    t = timeline([program(tmp_path, FORK_TREE)])
    svg = drawn(t)
    assert len(having(svg, "line", "process")) == 4
    assert len(having(svg, "path", "create")) == 3
    assert len(having(svg, "path", "reap")) == 4            # three waitpid, and the recorder reaps the program
    assert len(marks(svg, "write")) == 4 and len(marks(svg, "exit")) == 4
    assert t.trace.stdout == b"g\na\nb\nmain\n"
    # lanes top to bottom in creation order, a parent above what it created: root, a, g, b
    root = t.trace.root
    a, b = t.trace.processes[root].children
    (g,) = t.trace.processes[a].children
    labels = [el.text for el in having(svg, "text", "label")]
    assert labels[0].startswith("recorder")
    assert [x.split(" ·")[0] for x in labels[1:]] == [f"pid {root}", f"pid {a}", f"pid {g}", f"pid {b}"]


def test_every_mark_is_focusable_and_carries_its_system_call_line(tmp_path, leaves_nothing):
    t = timeline([program(tmp_path, FORK_TREE)])
    svg = drawn(t)
    for g in marks(svg):
        title = g.find(SVG + "title")
        assert g.get("tabindex") == "0" and g.get("role") == "img"
        assert title is not None and title.text and g.get("aria-label") == title.text
    root = t.trace.root
    a, b = t.trace.processes[root].children
    forks = titles(svg, "create")
    assert any(f"pid {root}: " in x and f"= pid {a}" in x and ("fork()" in x or "clone(" in x) for x in forks)
    assert any(f"pid {root}: wait4(" in x and f") = pid {b}: reaped pid {b}, exit status 0" in x
               for x in titles(svg, "reap"))
    assert f'pid {root}: write(1, "main\\n", 5) = 5' in " ".join(titles(svg, "write"))
    assert all("exit_group(0)" in x for x in titles(svg, "exit"))


def test_a_reap_says_what_the_wait_asked_for_when_the_recorder_tells(tmp_path, leaves_nothing):
    t = timeline([program(tmp_path, FORK_TREE)])
    reaps = [e for e in t.trace.of_kind("reap") if e.call != "tracer"]
    if getattr(reaps[0], "asked", None) is None:
        pytest.skip("this recorder does not say what a wait asked for (Event.asked)")
    root = t.trace.root
    _, b = t.trace.processes[root].children
    assert f"pid {root}: wait4(pid {b}) = pid {b}: reaped pid {b}, exit status 0" in " ".join(titles(drawn(t), "reap"))
    assert f"pid {root} reaps pid {b} with wait4, waiting for pid {b} (exit status 0)." in t.events_in_words()


def test_the_text_equivalent_lists_every_drawn_event_in_words(tmp_path, leaves_nothing):
    t = timeline([program(tmp_path, FORK_TREE)])
    svg = drawn(t)
    words = t.events_in_words()
    assert len(words) == len(marks(svg))
    assert sum(" forks: a new child" in w for w in words) == 3 and sum(" reaps pid " in w for w in words) == 4
    assert f'pid {t.trace.root} writes 5 bytes to its stdout: "main\\n".' in words
    text = t.text()
    assert text.startswith("Timeline of ") and "4 processes" in text and "1. " in text
    page = ET.fromstring(t._repr_html_())                # the list a screen reader reaches in the notebook
    assert len(list(page.iter("li"))) == len(words)
    bundle = t._repr_mimebundle_()
    assert bundle["text/plain"] == text and bundle["image/svg+xml"] == t.svg()


def test_a_zombie_lane_stays_open_from_its_exit_to_its_reap(tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <time.h>
        #include <unistd.h>
        int main(void) {
            pid_t c = fork();
            if (c == 0) _exit(7);
            nanosleep(&(struct timespec){0, 200000000}, NULL);
            write(1, "late\\n", 5);                   /* the parent does something before it waits */
            waitpid(c, NULL, 0);
            return 0;
        }
    """)
    t = timeline([exe])
    svg = drawn(t)
    (zombie,) = having(svg, "rect", "zombie")
    (child,) = t.trace.processes[t.trace.root].children
    exit_mark = next(g for g in marks(svg, "exit") if f"pid {child}: " in g.find(SVG + "title").text)
    reap_mark = next(g for g in marks(svg, "reap") if f"reaped pid {child}," in g.find(SVG + "title").text)
    x_exit = float(exit_mark.find(SVG + "rect").get("x")) + 2
    x_reap = float(reap_mark.find(SVG + "circle").get("cx"))
    assert float(zombie.get("x")) == pytest.approx(x_exit)
    assert float(zombie.get("x")) + float(zombie.get("width")) == pytest.approx(x_reap)
    assert "exit_group(7)" in exit_mark.find(SVG + "title").text


from test_trace_events import ORPHAN, TWO_THREADS  # noqa: E402  (one orphan program for the recorder's tests and the timeline's)


@pytest.mark.parametrize("subreaper", [False, True], ids=["init", "subreaper"])
def test_an_orphans_reap_arrow_goes_to_whoever_adopted_it(subreaper, tmp_path, leaves_nothing):
    t = timeline([program(tmp_path, ORPHAN)] + (["subreaper"] if subreaper else []))
    svg = drawn(t)
    (child,) = t.trace.processes[t.trace.root].children
    (orphan,) = t.trace.processes[child].children
    reaper = f"pid {t.trace.root}" if subreaper else "the recorder"
    (reap,) = [x for x in titles(svg, "reap") if f"reaped pid {orphan}," in x]
    assert reap.startswith(f"{reaper}: ") and "exit status 3" in reap
    assert any(w.startswith(f"pid {orphan} exits as an orphan") for w in t.events_in_words())
    # the reap arrow ends in the adopter's lane: the recorder's lane (top) or the program's (second)
    lane_y = {0: 58 + 34 * 0.5, 1: 58 + 34 * 1.5}
    ends = [float(re.findall(r"[\d.]+,([\d.]+)", p.get("d"))[-1]) for p in having(svg, "path", "reap")]
    assert sum(abs(y - lane_y[0]) <= 7.5 for y in ends) == (1 if subreaper else 2)
    assert sum(abs(y - lane_y[1]) <= 7.5 for y in ends) == (2 if subreaper else 1)


@pytest.mark.parametrize("order", ["seen", "causal"])
def test_the_vfork_parents_lane_is_paused_until_the_child_execs(order, tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            pid_t c = vfork();
            if (c == 0) { execl("/bin/true", "true", (char *) 0); _exit(127); }
            write(1, "parent\\n", 7);
            waitpid(c, NULL, 0);
            return 0;
        }
    """)
    for _ in range(5):          # the recorder sees the release and the exec stop in either order
        t = timeline([exe], order=order)
        svg = drawn(t)
        (paused,) = having(svg, "line", "paused")
        (vfork,) = marks(svg, "create")
        (exec_,) = [g for g in marks(svg, "exec") if "/bin/true" in g.find(SVG + "title").text]
        (resumed,) = marks(svg, "vfork_done")
        (write,) = marks(svg, "write")
        assert "vfork() = pid" in vfork.find(SVG + "title").text
        x_vfork = float(vfork.find(SVG + "rect").get("x")) + 4
        x_exec = float(exec_.find(SVG + "path").get("d")[1:].split(",")[0])
        x_resume = float(resumed.find(SVG + "path").get("d")[1:].split(",")[0]) + 5
        x_write = float(write.find(SVG + "rect").get("x")) + 5
        assert float(paused.get("x1")) == pytest.approx(x_vfork)
        assert float(paused.get("x2")) == pytest.approx(x_resume)
        # released inside the child's execve: drawn after the exec, and the parent runs only then
        assert x_vfork < x_exec < x_resume < x_write
    assert any("resumes: its vfork child gave the borrowed memory back" in w for w in t.events_in_words())


def test_a_pipeline_draws_the_pipe_from_the_write_to_the_read(leaves_nothing):
    t = timeline("echo a | cat")
    svg = drawn(t)
    assert len(having(svg, "line", "process")) == 3
    assert len(having(svg, "path", "create")) == 2
    assert len(having(svg, "path", "pipe")) == 1
    echo, cat = t.trace.processes[t.trace.root].children
    assert f"pid {echo} writes 2 bytes to its stdout, a pipe that pid {cat} reads: \"a\\n\"." in t.events_in_words()
    assert t.trace.stdout == b"a\n"


def test_threads_are_lanes_marked_as_threads(tmp_path, leaves_nothing):
    exe = program(tmp_path, TWO_THREADS, flags=["-pthread"])
    t = timeline([exe])
    svg = drawn(t)
    assert len(having(svg, "line", "thread")) == 2 and len(having(svg, "line", "process")) == 1
    labels = [el.text for el in having(svg, "text", "label") if "thread of pid" in el.text]
    assert len(labels) == 2 and "1 process and 2 threads" in t.summary()


def test_forty_children_are_collapsed_into_a_summary_lane_that_says_so(tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            for (int i = 0; i < 40; i++) if (fork() == 0) _exit(0);
            while (wait(NULL) > 0) {}
            return 0;
        }
    """)
    t = timeline([exe], max_procs=64)
    svg = drawn(t)
    lanes = having(svg, "line", "process") + having(svg, "rect", "summary")
    assert 3 <= len(lanes) <= 30 and len(having(svg, "rect", "summary")) == 1
    root = t.trace.root
    sentence = f"38 more children of pid {root} that each exited 0, reaped by pid {root}"
    assert sentence in t.svg() and sentence in t.summary() and "collapsed" in t.summary()
    assert len(t.trace.processes) == 41                  # all recorded; only the drawing is summarised


def sanitized(text: str) -> str:
    """What nbval compares: the text after the course's sanitizer (tests/nbval_sanitize.cfg)."""
    rules = configparser.ConfigParser()
    rules.read(SANITIZE)
    for section in rules.sections():
        text = re.sub(rules[section]["regex"], rules[section]["replace"], text, flags=re.M)
    return text


def test_siblings_whose_whole_subtrees_did_the_same_collapse_with_what_they_created(tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            for (int i = 0; i < 40; i++)
                if (fork() == 0) { if (fork() == 0) _exit(0); wait(NULL); write(1, "c\\n", 2); _exit(0); }
            while (wait(NULL) > 0) {}
            return 0;
        }
    """)
    t = timeline([exe], max_procs=200)
    svg = drawn(t)
    root = t.trace.root
    assert len(t.trace.processes) == 81
    assert t.collapsed == [f"38 more children of pid {root} that each made 1 process of its own and exited 0, "
                           f"reaped by pid {root} (38 of them wrote to stdout or stderr)"]
    assert len(having(svg, "line", "process")) == 5          # the program, two children and their children
    assert "not drawn" not in t.summary()


def test_a_chain_of_two_thousand_forks_is_drawn_collapsed(tmp_path, leaves_nothing):
    """Each child forks once and exits: a lane tree thousands deep, never more than two processes alive."""
    exe = program(tmp_path, """
        #include <unistd.h>
        int main(void) {
            for (int i = 0; i < 2000; i++) if (fork() != 0) _exit(0);
            return 0;
        }
    """)
    t = timeline([exe], timeout=60)
    svg = drawn(t)
    assert len(t.trace.processes) == 2001
    assert len(having(svg, "line", "process")) <= 30 and "2000 more lanes" not in t.summary()
    assert "more lanes, not drawn" in t.summary() and len(t.events_in_words()) == len(marks(svg))
    assert int(svg.get("width")) < 5000 and len(marks(svg)) < 200     # what is not drawn takes no room


@pytest.mark.parametrize("order", ["seen", "causal"])
def test_a_deterministic_program_draws_the_same_picture_twice(order, tmp_path, leaves_nothing):
    """Positions come from the order of events, not their times: after nbval's own sanitizer (pids, times),
    two runs store the same SVG, HTML and text."""
    exe = program(tmp_path, FORK_TREE)
    first, second = timeline([exe], order=order), timeline([exe], order=order)
    assert first.trace.root != second.trace.root
    for show in ("svg", "_repr_html_", "text"):
        assert sanitized(getattr(first, show)()) == sanitized(getattr(second, show)())
    assert "<N>" in sanitized(first.svg()) and re.search(r"pid \d", sanitized(first.svg())) is None


def test_the_causal_order_draws_runs_that_differ_only_in_interleaving_alike(tmp_path, leaves_nothing):
    """Children exit while their parent is still forking, in whatever order the scheduler picks; placed by
    what each event must follow, every run draws one picture."""
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            pid_t c[4];
            for (int i = 0; i < 4; i++) if ((c[i] = fork()) == 0) _exit(i);
            for (int i = 0; i < 4; i++) waitpid(c[i], NULL, 0);
            return 0;
        }
    """)
    pictures = {sanitized(timeline([exe], order="causal").svg()) for _ in range(4)}
    assert len(pictures) == 1


def test_a_refused_trace_is_drawn_as_its_sentence_never_a_traceback(leaves_nothing):
    """A process has one tracer: a timeline made under the recorder is refused, and says so in words."""
    script = ("from forklab.explorer.timeline import timeline\n"
              "t = timeline(['/bin/true'])\n"
              "print(t.text())\n"
              "print(t.svg())\n")
    trace = te.record([sys.executable, "-c", script], timeout=60)
    assert trace.refusal is None and trace.returncode == 0, trace.stderr
    out = trace.stdout.decode()
    text, svg = out.split("\n", 1)
    assert text.startswith("Timeline of /bin/true: This program cannot be traced here: the program is already "
                           "traced")
    picture = ET.fromstring(svg)
    assert "already traced" in picture.get("aria-label") and "Traceback" not in out
    assert b"Traceback" not in trace.stderr


def test_the_process_cap_is_said_in_the_picture(tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <unistd.h>
        int main(void) { for (int i = 0; i < 200; i++) fork(); pause(); return 0; }
    """)
    t = timeline([exe], max_procs=12, timeout=20)
    assert t.trace.limit == "max_procs"
    ET.fromstring(t.svg())
    assert "stopped by forklab's process cap" in ET.fromstring(t.svg()).find(SVG + "text").text
    assert "more processes were alive at once than the cap " \
        "(12)" in t.summary()


def test_a_c_program_given_as_source_is_compiled_drawn_and_its_folder_removed(leaves_nothing):
    t = timeline_c(FORK_TREE, args=["unused"])
    assert t.summary().startswith("Timeline of program.c unused: 4 processes")
    assert len(having(drawn(t), "path", "create")) == 3
    assert t.events_in_words()[0].endswith(" execs ./program.") and "forklab-timeline-" not in t.svg()
    with pytest.raises(CompileError, match=r"did not compile:\n(.|\n)*program\.c:2"):
        timeline_c("int main(void) {\n  return x;\n}\n")


def test_save_writes_the_svg(tmp_path, leaves_nothing):
    t = timeline("true")
    out = t.save(tmp_path / "run.svg")
    assert ET.parse(out).getroot().tag == SVG + "svg"
    out.unlink()


def test_bad_programs_are_clear_errors():
    with pytest.raises(ValueError, match="shell command"):
        timeline("  ")
    with pytest.raises(ValueError, match="a list"):
        timeline(42)
    with pytest.raises(ValueError, match="order must be one of 'seen', 'causal'"):
        timeline("true", order="time")
    with pytest.raises(ValueError, match="max_lanes"):
        Timeline(te.Trace(argv=["x"], events=[], processes={}, root=None, returncode=0, stdout=b"", stderr=b""),
                 max_lanes=1)
