"""forklab.sandbox: Where a student's program runs: the supervisor (run as a script, standard library and the
stdlib-only modules beside it and in forklab.host), its walls (containment), what it cleans up (leftovers) and
the runner that compiles and runs a C program under it. It may import forklab.host; never forklab.engine (an
independent sibling) or anything above.
"""
