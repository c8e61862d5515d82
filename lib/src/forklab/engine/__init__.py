"""forklab.engine: One experiment: the request and its checks, the flags and their rules, run() and its
Observation, verdicts and errors, the C core (csrc/, built as forklab.engine._core) and the bench server
(forklab-bench). It may import forklab.host; never forklab.sandbox (an independent sibling) or anything above.
"""
