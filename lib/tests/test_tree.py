"""Process trees: every process recorded with its real parent and what it printed; OSTEP practice."""
import os

import matplotlib
import pytest

from forklab.course import forkgame, tree
from procs import assert_no_children

matplotlib.use("Agg")

TWO_FORKS = """
import os
os.fork()
os.fork()
print("hello")
"""


def test_two_forks_make_four_processes_that_each_print_once():
    t = tree.run_python(TWO_FORKS)
    assert t.count == 4 and t.outputs == ["hello"] * 4
    assert [p.label for p in t.processes] == ["a", "b", "c", "d"]
    assert [len(p.children) for p in t.processes] == [2, 1, 0, 0]   # a made b and c, b made d
    assert t.depth() == 3
    assert t.result.returncode == 0


def test_parents_are_who_called_fork_even_when_the_parent_exits_first():
    # The parent ends at once; its child is an orphan by the time it looks. The tree still shows
    # who made it (recorded before the fork), not the subreaper it was handed to.
    t = tree.run_python("""
import os, time
if os.fork() == 0:
    time.sleep(0.2)
    print("orphan")
""")
    assert t.count == 2
    child = t.processes[1]
    assert child.ppid == t.root.pid and child.said == "orphan\n"
    assert t.root.pid != child.pid


def test_the_kernel_is_not_forked_and_gets_no_child():
    t = tree.run_python("import os\nos.fork()\n")
    assert all(p.pid != os.getpid() for p in t.processes)
    assert_no_children()          # no child (nor zombie) of ours was left behind


def test_text_shows_the_shape_and_what_each_process_said():
    t = tree.run_python(TWO_FORKS)
    assert t.text() == ("a  says: hello\n├── b  says: hello\n│   └── d  says: hello\n"
                        "└── c  says: hello")


def test_c_programs_are_recorded_through_fork_printf_and_puts():
    t = tree.run_c(r'''
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
    printf("hello ");
    if (fork() == 0) { puts("child"); return 0; }
    wait(NULL);
    printf("parent\n");
    return 0;
}''')
    assert t.count == 2
    assert t.root.said == "hello parent\n" and t.processes[1].said == "child\n"
    # what the program really wrote: the unflushed "hello " was copied into the child's stdio buffer
    assert t.stdout.count("hello") == 2


def test_a_c_program_that_does_not_compile_says_why():
    with pytest.raises(ValueError, match="did not compile"):
        tree.run_c("int main(void) { return nope; }")


def test_a_fork_bomb_in_a_tree_program_is_stopped():
    t = tree.run_python("import os\nwhile True:\n    os.fork()\n", max_procs=10, timeout=5)
    assert t.result.too_many_procs


def test_predict_compares_the_guess_with_the_real_numbers(capsys):
    tree.predict(TWO_FORKS, processes=4, prints=3, text="hello")
    out = capsys.readouterr().out
    assert "processes: 4  - you predicted it!" in out
    assert '"hello" lines: 4  - you predicted 3' in out


def test_predict_without_a_guess_asks_for_one(capsys):
    tree.predict("print('x')", draw=False)
    assert "no prediction" in capsys.readouterr().out


def test_draw_places_every_process():
    t = tree.run_python(TWO_FORKS)
    ax = t.draw()
    assert len(ax.texts) == 4 and len(ax.lines) == 3


def test_random_programs_are_reproducible_and_their_answer_is_consistent():
    ex1, ex2 = forkgame.random_program(seed=7, actions=8), forkgame.random_program(seed=7, actions=8)
    assert ex1.actions == ex2.actions and len(ex1.actions) == 8
    final = ex1.final_tree()
    made = {a.split("+")[1] for a in ex1.actions if "+" in a}
    gone = {a[:-1] for a in ex1.actions if a.endswith("-")}
    assert set(final) == {"a"} | (made - gone)
    assert "forks" in str(ex1) and ex1.answer().count("\n") > 8
    assert "a plays init" in str(ex1)      # the game's simplification is said where it is played


def test_exits_hand_orphans_to_a():
    assert forkgame.simulate(["a+b", "b+c", "b-"])[-1] == {"a": ["c"], "c": []}
    assert forkgame.render({"a": ["b"], "b": ["c"], "c": []}) == "a\n└── b\n    └── c"


def test_a_predicted_tree_shape_is_compared_whatever_the_sibling_order(capsys):
    tree.predict(TWO_FORKS, processes=[[], [[]]], draw=False)      # siblings swapped: still right
    out = capsys.readouterr().out
    assert "processes: 4  - you predicted it!" in out and "the same as yours" in out
    tree.predict(TWO_FORKS, processes=[[], [], []], draw=True)      # 4 processes, wrong shape
    out = capsys.readouterr().out
    assert "processes: 4  - you predicted it!" in out and "different from yours" in out


def test_shapes_round_trip_and_bad_shapes_are_explained():
    assert tree.run_python(TWO_FORKS).shape() == [[[]], []]
    assert tree.from_shape([[[]], []]).count == 4
    with pytest.raises(TypeError, match="list of its children"):
        tree.from_shape([1, []])
    with pytest.raises(TypeError, match="nested lists"):
        tree.predict("print(1)", processes="four", draw=False)
