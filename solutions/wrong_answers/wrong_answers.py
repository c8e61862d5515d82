"""Plausible wrong answers to every graded exercise - the mistakes students make - kept beside the solutions.

tests/test_wrong_answers.py hands them in to real nbgrader (with deploy/nbgrader's configuration) and requires
each one to lose its exercise's points, while the solutions earn full marks. An exercise is only as good as the
wrong answers it rejects: every graded test cell has at least two here, and at least one of them passes the
visible tests (``visible=True``: checked on the notebook as released) and loses only to the hidden ones.

Keys are nbgrader grade_ids of answer cells; each source is the whole answer cell a student would hand in.
Never copy this folder into exercises/ or a students' repository.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    mistake: str          # the misunderstanding, in a student's words or ours
    source: str           # the whole answer cell
    visible: bool         # True: passes the visible tests (only a hidden test catches it); False: a visible one does


def _fn(header: str, body: str) -> str:
    return header + "\n" + "\n".join("    " + line if line else "" for line in body.strip("\n").split("\n"))


def _terminal_18(**wrong: str) -> str:
    """Exercise 18.1's answer cell: the right outcomes, but for the puzzles named in ``wrong``."""
    outcomes = {"a": "stopped by SIGTTIN", "b": "done", "c": "stopped by SIGTTOU", "d": "EIO", "e": "done",
                "f": "stopped by SIGTTOU", "g": "done", "h": "done", "i": "stopped by SIGTTOU", "j": "EIO"}
    return f"answers = {dict(outcomes, **wrong)!r}"


def _run_foreground_18(*, shell_side: bool = True, reset: bool = True, take_back: bool = True) -> str:
    """Exercise 18.2's answer cell with one of the solution's steps left out."""
    lines = ["    fflush(stdout);", "    pid_t pid = fork();", "    if (pid == -1)", "        return -1;",
             "    if (pid == 0) {", "        setpgid(0, 0);", "        tcsetpgrp(tty, getpid());"]
    if reset:
        lines += ["        int sigs[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };",
                  "        for (int i = 0; i < 5; i++)", "            signal(sigs[i], SIG_DFL);"]
    lines += ["        execvp(argv[0], argv);", "        _exit(127);", "    }"]
    if shell_side:
        lines += ["    setpgid(pid, pid);", "    tcsetpgrp(tty, pid);"]
    lines += ["    int status;", "    if (waitpid(pid, &status, WUNTRACED) == -1)", "        status = -1;"]
    if take_back:
        lines += ["    tcsetpgrp(tty, getpgrp());"]
    lines += ["    return status;"]
    return 'RUN_FOREGROUND_BODY = r"""\n' + "\n".join(lines) + '\n"""'


W = Wrong
WRONG: dict[str, dict[str, list[Wrong]]] = {
    "01_exercises_fork": {
        # Exercises with variants (forklab.course.variant): a wrong answer is written for the student's own variant.
        "ex1-answer": [
            W("counts processes, not births, for the lines", "processes_1 = 2 ** (LOOPS_1 + FORK_FIRST_1)\n"
              "child_lines_1 = processes_1", True),
            W("the original not counted (off by one)", "processes_1 = 2 ** (LOOPS_1 + FORK_FIRST_1) - 1\n"
              "child_lines_1 = processes_1", False),
            W("each fork adds one process", "processes_1 = LOOPS_1 + FORK_FIRST_1 + 1\n"
              "child_lines_1 = LOOPS_1", False),
        ],
        "ex2-answer": [
            W("the right number of processes in the wrong places: every process a child of the original",
              "tree_2 = [[] for _ in range(tree.run_python(PROGRAM_2).count - 1)]", True),
            W("only the original forks", "tree_2 = [[], [], []]", False),
            W("each fork makes a child of the one before", "tree_2 = [[[[]]]]", False),
        ],
    },
    "02_exercises_copy_on_write": {
        "ex3-answer": [
            W("clone() copies memory like fork() whatever the flags",
              'parent_sees_7 = {"fork": False, "vfork": True, "clone(CLONE_VM)": False, "clone(CLONE_FILES)": False}',
              True),
            W("vfork() copies too", 'parent_sees_7 = {"fork": False, "vfork": False, "clone(CLONE_VM)": True, '
              '"clone(CLONE_FILES)": False}', False),
        ],
        "ex4-answer": [
            W("one fault per write, not per page", _fn("def cow_faults(offsets):", "return len(offsets)"), True),
            W("the fork itself counted as a fault", _fn("def cow_faults(offsets):",
                                                        "return len({offset // PAGE for offset in offsets}) + 1"), False),
        ],
    },
    "03_exercises_files_after_fork": {
        "ex5-answer": [
            W("a second open() of the same file appends", "contents_a = START_5 + CHILD_5 + PARENT_5\n"
              "contents_b = CHILD_B_5 + PARENT_B_5", True),
            W("the child's write goes to its own copy of the file", "contents_a = START_5 + PARENT_5\n"
              "contents_b = PARENT_B_5 + CHILD_B_5[len(PARENT_B_5):]", False),
        ],
    },
    "04_exercises_wait_zombies_orphans": {
        "ex6-answer": [
            W("the exit code is status >> 8, also for a child killed by a signal",
              _fn("def reap_all(pids):", "return {p: os.waitpid(p, 0)[1] >> 8 for p in pids}"), True),
            W("forgets to reap: reads the codes from /proc instead of waiting",
              _fn("def reap_all(pids):", "return {p: 0 for p in pids}"), False),
        ],
        "ex7-answer": [
            W("splits /proc/PID/stat on spaces (a name may hold spaces and parentheses)",
              _fn("def is_zombie(pid):", "try:\n    return open(f'/proc/{pid}/stat').read().split()[2] == 'Z'\n"
                  "except FileNotFoundError:\n    return False"), True),
            W("a zombie is a process that still exists", _fn("def is_zombie(pid):",
                                                             "return os.path.exists(f'/proc/{pid}')"), False),
        ],
    },
    "05_exercises_exec_and_spawn": {
        "ex8-answer": [
            W("the exit code is status >> 8, also for a child killed by a signal",
              _fn("def spawn(argv):", "import os\npid = os.posix_spawnp(argv[0], argv, os.environ)\n"
                  "return os.waitpid(pid, 0)[1] >> 8"), True),
            W("os.system() returns the exit code (it returns the wait status)",
              _fn("def spawn(argv):", "import os\nreturn os.system(' '.join(argv))"), False),
        ],
    },
    "06_exercises_vfork": {
        "ex9-answer": [
            W("sharing memory makes the parent wait",
              'parent_waits = {"fork": False, "vfork": True, "clone(CLONE_VM)": True, "clone(CLONE_VFORK)": False, '
              '"clone(CLONE_VM|CLONE_VFORK)": True}', True),
            W("vfork() returns at once, like fork()",
              'parent_waits = {"fork": False, "vfork": False, "clone(CLONE_VM)": False, "clone(CLONE_VFORK)": True, '
              '"clone(CLONE_VM|CLONE_VFORK)": True}', False),
        ],
        "ex10-answer": [
            W("exit() instead of _exit() after a failed exec (runs the parent's atexit handlers)",
              'SPAWN_BODY = r"""\n    pid_t pid = vfork();\n    if (pid == 0) {\n        execvp(argv[0], argv);\n'
              '        exit(127);\n    }\n    return pid;\n"""', True),
            W("any nonzero status after a failed exec", 'SPAWN_BODY = r"""\n    pid_t pid = vfork();\n'
              '    if (pid == 0) {\n        execvp(argv[0], argv);\n        _exit(1);\n    }\n    return pid;\n"""', True),
            W("execv() instead of execvp(): no search of PATH", 'SPAWN_BODY = r"""\n    pid_t pid = vfork();\n'
              '    if (pid == 0) {\n        execv(argv[0], argv);\n        _exit(127);\n    }\n    return pid;\n"""', False),
        ],
    },
    "07_exercises_clone_basics": {
        "ex11-answer": [
            W("a flag to spare: CLONE_FILES does no harm", 'flags_a = {"CLONE_VM", "CLONE_FILES", "CLONE_SIGHAND"}\n'
              'flags_b = {"CLONE_FS", "CLONE_SYSVSEM", "CLONE_FILES"}', True),
            W("signal handlers come with CLONE_VM", 'flags_a = {"CLONE_VM", "CLONE_FILES"}\n'
              'flags_b = {"CLONE_FS", "CLONE_SYSVSEM"}', False),
        ],
    },
    "08_exercises_clone_flags": {
        "ex12-answer": [
            W("drops CLONE_FS and stops there: works for root only", 'repaired_a = {"CLONE_SIGHAND", "CLONE_VM"}\n'
              'repaired_b = {"CLONE_THREAD", "CLONE_VM", "CLONE_SIGHAND"}\nrepaired_c = {"CLONE_NEWNS"}', True),
            W("the kernel's refusal is a bug: hands in the broken set",
              'repaired_a = {"CLONE_SIGHAND"}\nrepaired_b = {"CLONE_THREAD", "CLONE_VM", "CLONE_SIGHAND"}\n'
              'repaired_c = {"CLONE_NEWNS", "CLONE_NEWUSER"}', False),
        ],
    },
    "09_exercises_threads_are_clones": {
        "ex13-answer": [
            W("only the sharing flags: forgets TLS and the tid bookkeeping",
              'thread_flags = {"CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_THREAD", "CLONE_SYSVSEM"}',
              True),
            W("a thread is a vfork()ed child", 'thread_flags = {"CLONE_VM", "CLONE_VFORK", "CLONE_THREAD", '
              '"CLONE_SIGHAND"}', False),
        ],
        "ex14-answer": [
            W("System V semaphores live in memory", 'why = {"CLONE_VM": "memory", "CLONE_FS": "fs", '
              '"CLONE_FILES": "fd_table", "CLONE_SIGHAND": "signal_handlers", "CLONE_SYSVSEM": "memory", '
              '"CLONE_THREAD": "thread_group"}', True),
            W("CLONE_FS shares open files", 'why = {"CLONE_VM": "memory", "CLONE_FS": "fd_table", '
              '"CLONE_FILES": "fd_table", "CLONE_SIGHAND": "signal_handlers", "CLONE_SYSVSEM": "sysvsem_undo", '
              '"CLONE_THREAD": "thread_group"}', False),
        ],
    },
    "10_exercises_namespaces_and_containers": {
        "ex15-answer": [
            W("a mount namespace too, to be safe (a flag to spare)",
              'container_flags = {"CLONE_NEWPID", "CLONE_NEWUTS", "CLONE_NEWUSER", "CLONE_NEWNS"}', True),
            W("the hostname is enough to look like a container", 'container_flags = {"CLONE_NEWUTS", "CLONE_NEWUSER"}',
              False),
        ],
    },
    "11_exercises_inside_the_kernel": {
        "ex16-answer": [
            W("posix_spawn() is vfork()", 'syscall_of = {"os.fork()": "clone", "os.posix_spawn()": "vfork", '
              '"subprocess.run()": "vfork", "threading.Thread().start()": "clone3"}', True),
            W("os.fork() is the fork system call", 'syscall_of = {"os.fork()": "fork", "os.posix_spawn()": "clone3", '
              '"subprocess.run()": "vfork", "threading.Thread().start()": "clone3"}', False),
        ],
        "ex17-answer": [
            W("posix_spawn() copies like fork()", 'in_callers_memory = {"os.fork()": False, "os.posix_spawn()": False, '
              '"subprocess.run()": True, "threading.Thread().start()": True}', True),
            W("a forked child runs in its parent's memory until it writes", 'in_callers_memory = {"os.fork()": True, '
              '"os.posix_spawn()": True, "subprocess.run()": True, "threading.Thread().start()": True}', False),
        ],
    },
    "13_exercises_fork_and_threads": {
        "ex13-1-answer": [
            W("the parent loses its threads at fork; the grandchild gets its parent's threads",
              'threads_reported = {"A": 1, "B": 1 + N_1["b_child"], "C": 1, "D": 1 + N_1["d_child"], '
              '"E": 1 + N_1["e_grandchild"]}', True),
            W("fork() copies every thread", 'threads_reported = {"A": 1 + N_1["a"], "B": 1 + N_1["b"] + N_1["b_child"], '
              '"C": 1 + N_1["c"], "D": 1 + N_1["d"] + N_1["d_child"], '
              '"E": 1 + N_1["e_child"] + N_1["e_grandchild"]}', False),
        ],
        "ex13-2-answer": [
            W("the lock made usable in the child, but the fork still copies a half-done update",
              'ATFORK_HANDLERS = """\nstatic void prepare(void) {}\nstatic void in_parent(void) {}\n'
              'static void in_child(void) { pthread_mutex_init(&lock, NULL); }\n"""', True),
            W("sleeping instead of synchronising: wait long enough for the writer",
              'ATFORK_HANDLERS = """\nstatic void prepare(void) { usleep(300000); }\nstatic void in_parent(void) {}\n'
              'static void in_child(void) {}\n"""', True),
            W("handlers that do nothing", 'ATFORK_HANDLERS = """\nstatic void prepare(void) {}\n'
              'static void in_parent(void) {}\nstatic void in_child(void) {}\n"""', False),
        ],
        "ex13-3-answer": [
            W("fork is never safe with threads (but logging repairs its own locks at fork)",
              "safe_methods = {'lock': {'forkserver', 'spawn'}, 'logging': {'forkserver', 'spawn'}}", True),
            W("a lock is released when the thread that holds it is not copied",
              "safe_methods = {'lock': {'fork', 'forkserver', 'spawn'}, 'logging': {'fork', 'forkserver', 'spawn'}}",
              False),
        ],
    },
    "14_exercises_a_mini_shell": {
        "ex14-1-answer": [
            W("two opens of f behave like one (they do not: two offsets)",
              "answers = {'a': ('out\\nerr\\n', ''), 'b': ('out\\n', 'err\\n'), 'c': ('out\\nerr\\n', ''), "
              "'d': ('old\\nout\\nerr\\n', ''), 'e': ('', 'out\\nerr\\n'), 'f': ('old\\nout\\nerr\\n', '')}", True),
            W("the order of redirections does not matter",
              "answers = {'a': ('out\\nerr\\n', ''), 'b': ('out\\nerr\\n', ''), 'c': ('err\\n', ''), "
              "'d': ('old\\nout\\nerr\\n', ''), 'e': ('', 'out\\nerr\\n'), 'f': ('old\\nout\\nerr\\n', '')}", False),
        ],
        "ex14-2-answer": [
            W("the writer keeps the read end (this pipeline finishes, `yes | head` would hang)",
              'PIPELINE_BODY = r"""\n    int p[2];\n    if (pipe(p) == -1) return -1;\n'
              '    pid_t w = fork();\n    if (w == 0) { dup2(p[1], 1); close(p[1]); execvp(left[0], left); _exit(127); }\n'
              '    pid_t r = fork();\n    if (r == 0) { dup2(p[0], 0); close(p[0]); close(p[1]); execvp(right[0], right); _exit(127); }\n'
              '    close(p[0]); close(p[1]);\n    int status;\n    waitpid(w, NULL, 0);\n    waitpid(r, &status, 0);\n'
              '    return status;\n"""', True),
            W("forgets to reap the writer: only the reader's status matters",
              'PIPELINE_BODY = r"""\n    int p[2];\n    if (pipe(p) == -1) return -1;\n'
              '    pid_t w = fork();\n    if (w == 0) { dup2(p[1], 1); close(p[0]); close(p[1]); execvp(left[0], left); _exit(127); }\n'
              '    pid_t r = fork();\n    if (r == 0) { dup2(p[0], 0); close(p[0]); close(p[1]); execvp(right[0], right); _exit(127); }\n'
              '    close(p[0]); close(p[1]);\n    int status;\n    waitpid(r, &status, 0);\n'
              '    return status;\n"""', True),
            W("the parent keeps both ends open: the reader never sees end of file",
              'PIPELINE_BODY = r"""\n    int p[2];\n    if (pipe(p) == -1) return -1;\n'
              '    pid_t w = fork();\n    if (w == 0) { dup2(p[1], 1); close(p[0]); close(p[1]); execvp(left[0], left); _exit(127); }\n'
              '    pid_t r = fork();\n    if (r == 0) { dup2(p[0], 0); close(p[0]); close(p[1]); execvp(right[0], right); _exit(127); }\n'
              '    int status;\n    waitpid(w, NULL, 0);\n    waitpid(r, &status, 0);\n'
              '    return status;\n"""', False),
        ],
        "ex14-3-answer": [
            W("a pipe without close-on-exec: the started program inherits the write end",
              'SPAWN_BODY = r"""\n    int p[2];\n    if (pipe(p) == -1) return -errno;\n    pid_t pid = fork();\n'
              '    if (pid == 0) { close(p[0]); execv(argv[0], argv); int e = errno; write(p[1], &e, sizeof e); _exit(127); }\n'
              '    close(p[1]);\n    int e;\n    ssize_t n = read(p[0], &e, sizeof e);\n    close(p[0]);\n'
              '    if (n == 0) return pid;\n    waitpid(pid, NULL, 0);\n    return -e;\n"""', True),
            W("fork and exec, and hope: a failed exec only shows in the exit status",
              'SPAWN_BODY = r"""\n    pid_t pid = fork();\n    if (pid == -1) return -errno;\n'
              '    if (pid == 0) { execv(argv[0], argv); _exit(127); }\n    return pid;\n"""', False),
        ],
    },
    "15_exercises_when_fork_fails": {
        "ex15-1-answer": [
            W("a loop of a fixed length", _fn("def fork_until_refused():",
              "kids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n"
              "    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\nreturn len(kids)"), True),
            W("swallowing errors: every OSError means 'no room'", _fn("def fork_until_refused():",
              "read_end, write_end = os.pipe()\nchildren = []\nwhile True:\n    try:\n        pid = os.fork()\n"
              "    except OSError:\n        break\n    if pid == 0:\n        os.close(write_end)\n        os.read(read_end, 1)\n"
              "        os._exit(0)\n    children.append(pid)\nos.close(write_end)\nos.close(read_end)\n"
              "for pid in children:\n    os.waitpid(pid, 0)\nreturn len(children)"), True),
            W("forgets to reap: the children end, nobody waits for them", _fn("def fork_until_refused():",
              "read_end, write_end = os.pipe()\nchildren = []\nwhile True:\n    try:\n        pid = os.fork()\n"
              "    except BlockingIOError:\n        break\n    if pid == 0:\n        os.close(write_end)\n"
              "        os.read(read_end, 1)\n        os._exit(0)\n    children.append(pid)\nos.close(write_end)\n"
              "os.close(read_end)\nreturn len(children)"), False),
        ],
        "ex15-2-answer": [
            W("the child always reads the parent's data", "child_sees = {'ordinary page': VALUE_15_2, "
              "'WIPEONFORK page': VALUE_15_2, 'DONTFORK page': VALUE_15_2}", True),
            W("a forked child starts with zeroed memory",
              "child_sees = {'ordinary page': 0, 'WIPEONFORK page': 0, 'DONTFORK page': 'SIGSEGV'}", False),
        ],
        "ex15-3-answer": [
            W("-1 passed on to waitpid(): fork's failure never checked",
              'RUN_CHILD_BODY = r"""\n    pid_t pid = fork();\n    if (pid == 0)\n        _exit(7);\n'
              '    int status;\n    waitpid(pid, &status, 0);\n    return WEXITSTATUS(status);\n"""', True),
            W("returns the raw wait status", 'RUN_CHILD_BODY = r"""\n    pid_t pid = fork();\n'
              '    if (pid == -1) { perror("fork"); return -1; }\n    if (pid == 0)\n        _exit(7);\n'
              '    int status;\n    waitpid(pid, &status, 0);\n    return status;\n"""', False),
        ],
    },
    "16_exercises_pidfd_and_pid1": {
        "ex16-1-answer": [
            W("SIGTERM cannot reach PID 1, even with a handler",
              "pid1_fate = {'SIGTERM from inside': 'survives', 'SIGKILL from inside': 'survives', "
              "'SIGTERM from outside': 'survives', 'SIGKILL from outside': 'dies'}", True),
            W("PID 1 can never be killed", "pid1_fate = {'SIGTERM from inside': 'survives', 'SIGKILL from inside': "
              "'survives', 'SIGTERM from outside': 'survives', 'SIGKILL from outside': 'survives'}", False),
        ],
        "ex16-2-answer": [
            W("waits for the main child only: orphans stay zombies, a death by signal comes back as 0",
              'REAP_UNTIL_BODY = r"""\n    int status;\n    waitpid(main_child, &status, 0);\n'
              '    return WEXITSTATUS(status);\n"""', True),
            W("returns the raw wait status", 'REAP_UNTIL_BODY = r"""\n    int status;\n'
              '    while (waitpid(-1, &status, 0) != main_child)\n        ;\n    return status;\n"""', False),
        ],
        "ex16-3-answer": [
            W("signals by PID where pidfds exist",
              _fn("def stop(pid, grace):", "os.kill(pid, signal.SIGTERM)\ndeadline = time.monotonic() + grace\n"
                  "while time.monotonic() < deadline:\n    done, status = os.waitpid(pid, os.WNOHANG)\n"
                  "    if done:\n        return how_it_ended(status)\n    time.sleep(0.01)\n"
                  "os.kill(pid, signal.SIGKILL)\nreturn how_it_ended(os.waitpid(pid, 0)[1])"), True),
            W("a comment instead of a call: names pidfd_open, signals by PID",
              _fn("def stop(pid, grace):", "# os.pidfd_open(pid) would be safer here\nos.kill(pid, signal.SIGTERM)\n"
                  "deadline = time.monotonic() + grace\nwhile time.monotonic() < deadline:\n"
                  "    done, status = os.waitpid(pid, os.WNOHANG)\n    if done:\n        return how_it_ended(status)\n"
                  "    time.sleep(0.01)\nos.kill(pid, signal.SIGKILL)\nreturn how_it_ended(os.waitpid(pid, 0)[1])"), True),
            W("a pidfd, but forgets to reap", _fn("def stop(pid, grace):",
              "pidfd = os.pidfd_open(pid)\nsignal.pidfd_send_signal(pidfd, signal.SIGTERM)\n"
              "ended, _, _ = select.select([pidfd], [], [], grace)\nif not ended:\n"
              "    signal.pidfd_send_signal(pidfd, signal.SIGKILL)\nos.close(pidfd)\n"
              "return 'SIGTERM' if ended else 'SIGKILL'"), False),
        ],
    },
    "17_exercises_the_cost_model": {
        "ex17-1-answer": [
            W("one entry per 4 KiB whatever the page", _fn("def entries_copied(size_mib, huge=False):",
                                                          "return size_mib * 256"), True),
            W("one entry per KiB", _fn("def entries_copied(size_mib, huge=False):", "return size_mib * 1024"), False),
        ],
        "ex17-2-answer": [
            W("a line through the two ends", _fn("def fixed_and_slope(sizes_mib, times_us):",
              "slope = (times_us[-1] - times_us[0]) / (sizes_mib[-1] - sizes_mib[0])\n"
              "return times_us[0] - slope * sizes_mib[0], slope"), True),
            W("(slope, fixed) the wrong way round", _fn("def fixed_and_slope(sizes_mib, times_us):",
              "slope = (times_us[-1] - times_us[0]) / (sizes_mib[-1] - sizes_mib[0])\n"
              "return slope, times_us[0] - slope * sizes_mib[0]"), False),
        ],
        "ex17-3-answer": [
            W("only fork() itself grows", "grows = {'fork'}", True),
            W("the calls that share memory are the ones that grow", "grows = {'vfork', 'posix_spawn'}", False),
        ],
    },
    "18_exercises_sessions_and_job_control": {
        "ex18-1-answer": [
            W("a signal the job ignores or blocks just lets the call through, a read too",
              _terminal_18(d="done", j="done"), True),
            W("SIGTTOU is only about writing: tcsetpgrp() and tcsetattr() are free for everyone",
              _terminal_18(f="done", i="done"), True),
            W("the terminal stops every background job that touches it, writers included",
              _terminal_18(b="stopped by SIGTTOU", e="stopped by SIGTTOU", g="stopped by SIGTTOU"), False),
        ],
        "ex18-2-answer": [
            W("only the child calls setpgid() and tcsetpgrp(): the shell may need the group before it exists",
              _run_foreground_18(shell_side=False), True),
            W("nothing reset before exec: the job keeps the shell's ignored SIGINT and SIGTSTP",
              _run_foreground_18(reset=False), True),
            W("the terminal is never taken back: the shell's next read fails with EIO",
              _run_foreground_18(take_back=False), False),
        ],
    },
    "19_exercises_what_a_child_inherits": {
        # Exercises with variants: each wrong answer is written for the student's own seven (ITEMS_19_*).
        "ex19-1-answer": [
            W("fork() copies everything: the child is an exact duplicate",
              "child_gets = {thing: True for thing in ITEMS_19_1}", True),
            W("locks are never inherited, everything else is",
              "child_gets = {thing: 'lock' not in thing for thing in ITEMS_19_1}", True),
            W("a child starts clean: only memory is copied", "child_gets = {thing: False for thing in ITEMS_19_1}",
              False),
        ],
        "ex19-2-answer": [
            W("exec keeps what fork() copies", "FORK_COPIES = {'the signal handler': True, 'the ignored signal': True, "
              "'the blocked signal': True, 'the pending signal': False, 'the alarm': False, 'the POSIX timer': False, "
              "'the alternate signal stack': True, 'the close-on-exec descriptor': True, 'the locked page': False, "
              "'the umask': True, 'the name': True, 'the fcntl() record lock': False}\n"
              "exec_keeps = {thing: FORK_COPIES[thing] for thing in ITEMS_19_2}", True),
            W("exec keeps the whole process but the close-on-exec descriptors",
              "exec_keeps = {thing: thing != 'the close-on-exec descriptor' for thing in ITEMS_19_2}", True),
            W("exec starts from scratch", "exec_keeps = {thing: False for thing in ITEMS_19_2}", False),
        ],
    },
}
