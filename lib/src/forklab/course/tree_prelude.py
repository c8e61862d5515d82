"""tree_prelude.py - put before a student's Python fork program by forklab.course.tree.run_python(): it records, in the
file named by $FORKLAB_TREE_LOG, each process born (os.register_at_fork: "P pid len\nppid") and each print
("O pid len\ntext"). Names start with _fl_ to stay out of the student's way; each record is one write() on an
O_APPEND file, so records never interleave. A prelude, not a module to import.
"""
if __name__ != "__main__":
    raise ImportError("tree_prelude.py is put before a program by forklab.course.tree, not a module")
import os as _fl_os, sys as _fl_sys, builtins as _fl_builtins, io as _fl_io
_fl_fd = _fl_os.open(_fl_os.environ["FORKLAB_TREE_LOG"], _fl_os.O_WRONLY | _fl_os.O_APPEND | _fl_os.O_CLOEXEC)
def _fl_log(kind, text):
    data = text.encode("utf-8", "replace")
    _fl_os.write(_fl_fd, b"%s %d %d\n" % (kind, _fl_os.getpid(), len(data)) + data)
_fl_log(b"P", str(_fl_os.getppid()))
_fl_forker = [0]
def _fl_before():
    _fl_forker[0] = _fl_os.getpid()
def _fl_child():
    _fl_log(b"P", str(_fl_forker[0]))
_fl_os.register_at_fork(before=_fl_before, after_in_child=_fl_child)
_fl_print = _fl_builtins.print
def print(*args, sep=" ", end="\n", file=None, flush=False):
    if file is None or file is _fl_sys.stdout:
        buf = _fl_io.StringIO()
        _fl_print(*args, sep=sep, end=end, file=buf)
        _fl_log(b"O", buf.getvalue())
    _fl_print(*args, sep=sep, end=end, file=file, flush=flush)
_fl_builtins.print = print
del print
