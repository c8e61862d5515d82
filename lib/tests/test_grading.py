"""forklab.course.grading: checks that explain themselves, and measurements taken outside the kernel."""
import os

import pytest

from forklab.course import children, grading
from forklab.course.grading import expect, require


def test_expect_passes_silently_when_equal():
    expect({"a", "b"}, {"b", "a"}, "Shared resources")


def test_expect_failure_is_a_full_sentence_that_keeps_the_expected_value_unsaid():
    """The expected value of a graded answer is the answer: a failing check never prints it."""
    with pytest.raises(AssertionError) as e:
        expect(6, 8, "Processes the program created", got_is="you predicted", hint="Count the children too.")
    assert str(e.value) == "Processes the program created: you predicted 6 - that does not match. Count the children too."


def test_expect_with_reveal_names_both_values():
    with pytest.raises(AssertionError) as e:
        expect(6, 8, "Processes the program created", got_is="you predicted", hint="Count the children too.",
               reveal=True)
    assert str(e.value) == ("Processes the program created: the kernel did 8, you predicted 6. "
                            "Count the children too.")


def test_expect_shows_sets_sorted_so_messages_are_stable():
    with pytest.raises(AssertionError, match=r"the kernel did \{'a', 'b'\}, your answer is set\(\)\."):
        expect(set(), {"b", "a"}, "Shared", reveal=True)
    with pytest.raises(AssertionError, match=r"your answer is \{'a', 'b'\} - that does not match\.$"):
        expect({"b", "a"}, set(), "Shared")


def test_an_unanswered_exercise_says_so():
    from forklab.course.grading import NotAnswered, answered

    def stub():
        raise NotImplementedError()
    with pytest.raises(NotAnswered, match=r"^Exercise 1 is not answered yet: tree_2 is not defined and f\(\) still "
                                          r"raises NotImplementedError\."):
        answered({"f": stub}, "1", "tree_2", "f")
    answered({"tree_2": [], "f": len}, "1", "tree_2", "f")     # answered: nothing raised


def test_require_raises_with_the_given_sentence():
    require(True, "unused")
    with pytest.raises(AssertionError, match="^Your function left a zombie.$"):
        require(False, "Your function left a zombie.")


def test_program_that_hangs_is_killed_and_reported():
    with pytest.raises(AssertionError, match="did not finish within 0.5 s"):
        grading.run_python("import os, time\nos.fork()\ntime.sleep(30)", timeout=0.5)


def test_process_state_reads_past_a_name_with_parentheses(tmp_path):
    link = tmp_path / "a) R (b"
    link.symlink_to("/bin/true")
    pid = os.posix_spawn(str(link), [str(link)], {})
    try:
        for _ in range(200):
            if grading.process_state(pid) == "Z":
                break
            os.sched_yield()
            import time; time.sleep(0.005)
        assert grading.process_state(pid) == "Z"
    finally:
        os.waitpid(pid, 0)
    assert grading.process_state(pid) is None


def test_cow_faults_count_one_per_distinct_page_written():
    page = os.sysconf("SC_PAGE_SIZE")
    assert grading.measure_cow_faults([]) == 0
    assert grading.measure_cow_faults([0, 1, 2]) == 1
    assert grading.measure_cow_faults([0, page, 5 * page, 5 * page + 9]) == 3


def test_cow_offsets_outside_the_buffer_are_refused():
    with pytest.raises(ValueError, match="must lie in"):
        grading.measure_cow_faults([10**9])


def test_resources_controlled_by_flag_are_measured():
    assert grading.resources_controlled_by("CLONE_FS") == {"fs"}
    assert grading.resources_controlled_by("SIGHAND") == {"signal_handlers"}   # needs VM: added, then compared
    assert "thread_group" in grading.resources_controlled_by("THREAD")


def test_accepted_flags_follows_the_kernels_fixes():
    assert set(grading.accepted_flags(["CLONE_THREAD"])) == {"CLONE_THREAD", "CLONE_SIGHAND", "CLONE_VM"}


def test_refused_to_student_names_the_missing_user_namespace():
    assert "CLONE_NEWUSER" in grading.refused_to_student(["CLONE_NEWUTS"])
    assert grading.refused_to_student(["CLONE_NEWUSER", "CLONE_NEWUTS"]) is None
    assert grading.refused_to_student(["CLONE_VM"]) is None


def test_file_written_by_runs_the_program_in_an_empty_folder():
    assert grading.file_written_by("import os\nopen('out.txt', 'w').write(str(len(os.listdir('.'))))") == "1"
    with pytest.raises(AssertionError, match="did not create out.txt"):
        grading.file_written_by("pass")


@pytest.mark.parametrize("pidfds", ["pidfd_open", "none (Linux < 5.3)"])
def test_children_reports_exactly_the_unreaped_ones_and_cleans_up(pidfds, monkeypatch):
    if pidfds.startswith("none"):
        monkeypatch.setattr(children, "_pidfd_open", lambda pid: None)
    with grading.Children(["exit 0", "exit 4", "sleep 30"]) as kids:
        reaped, zombie, running = kids.pids
        kids.wait_until_exited(zombie)
        assert os.waitpid(reaped, 0)[0] == reaped
    assert kids.unreaped == [zombie, running]
    assert "2 of its 3 children had not been reaped" in kids.unreaped_sentence("reap_all()")
    for pid in kids.pids:                       # everything was reaped on leaving the block
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_observe_turns_a_refusal_into_a_sentence():
    with pytest.raises(AssertionError, match=r"refused clone\(CLONE_SIGHAND\) with EINVAL: .*CLONE_VM"):
        grading.observe(["CLONE_SIGHAND"])


def test_shared_among_and_flags_not_needed_ask_the_kernel():
    target = {"memory", "fs"}
    assert grading.shared_among(["VM", "FS"]) == target
    assert grading.flags_not_needed(["VM", "FS"], lambda f: grading.shared_among(f) == target) == []
    assert grading.flags_not_needed(["VM", "FS", "CLONE_PARENT"],
                                    lambda f: grading.shared_among(f) == target) == ["CLONE_PARENT"]
