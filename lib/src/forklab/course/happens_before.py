"""Every order a recorded program can print its output in: the happens-before order of its writes (issue 22).

    o = orders(["./fork_two"])                 # or a shell command: orders("echo A & echo B; wait")
    o.possible(["A", "C", "B"])                # Verdict: True, or False and the edge it breaks, in words
    o.all(limit=1000)                          # the possible orders, and how many there are
    grade_orders([["A", "B", "C"]], program=["./fork_two"])

The graded order is the order of write(2) calls to the program's output (fd 1 and 2): each write is one output
item, its bytes. A printf is not a write: stdio buffers, and a fork() copies an unflushed buffer, so the bytes
reach the kernel when the buffer is flushed (a newline on a terminal, fflush, exit) - the recorder sees that.

The model, from one recorded run (forklab.sandbox.trace_events): event x happens before event y when
  1. program order: x comes before y in the same lane (a process, or a thread);
  2. creation: x is the fork/vfork/clone that created y's lane (everything a child does follows its creation);
  3. reaping: x is a child's exit and y the wait that returned it (wait(2): a wait returns a child that has
     already terminated, or waits until one does);
  4. vfork: x is a vfork child's exec or exit and y the parent's return from vfork() (vfork(2): the parent is
     suspended until the child calls execve or _exit; the kernel releases it in mm_release ->
     complete_vfork_done, reached from exec_mmap and from exit_mm);
  5. pipes: x is the write that put the last byte a read returns, y that read (pipe(7): a pipe is a byte
     stream, first in first out; a read blocks until there is data); a read that returns 0 (end of file)
     follows every write to the pipe (it needs every write end closed);
  6. signals: x is the kill() that sent a signal, y its delivery to the receiver, where a handler runs
     (signal(7); the recorder records the sending at the system call's entry) - unless more of that signal
     were sent to the lane than it received (standard signals merge while pending): then no edge.
Nothing else is ordered: the scheduler may run the lanes in any order and switch between them at any point.
So the possible output orders are the orders of the output writes in the runs of all the events that keep every
edge (and let every wait for any child return, below); without such waits, exactly the linear extensions of the
order restricted to the writes (any linear extension of a sub-order extends to one of the whole order).
A write to fd 1 or 2 that goes into a pipe the program itself reads (`echo hi | tr h H`) is a pipe write, not
output; the output is what reaches the recorder's capture pipes.

A wait that may return any of several children (wait(), wait(-1), waitpid(-1), waitid(P_ALL); waitpid(0) too,
loosely) is a choice, not a fact of the run: which child it returned is ignored, and the wait is a gate instead of an edge - it
can return once more of its process's children have exited than that process's earlier any-child waits
returned (the children counted: every child it created that no waitpid(pid) of it names). That is exactly "some
child could have been returned": each wait returns a different exited child, and when the count holds, handing
each wait any exited child not yet taken always works (Hall's condition for nested sets), so the possible orders
are the union, over every child each wait could have returned, of the orders the edges allow - without listing
the n! assignments. Events other than writes are done as early as they can be in the search (the edges and the
gates only ever need more events, so doing one early never stops another - true while one lane of a process does
its any-child waits; where two threads of one process each wait for any child, one thread's early wait could take
the child the other's needed, so such programs are refused, not graded): a state is the set of writes done.
waitpid(0) and waitpid(-pgid) are taken as "any child": that allows more orders than the process group allows,
never fewer.
The recorder says what each wait asked for (the reap event's "asked").

The assumption: the program's control flow does not depend on the scheduling - each lane makes the same calls
and writes the same bytes whatever order the lanes ran in (only which child a wait(-1) returns may differ, and
what is done after it must not depend on which one). Two or more recorded runs are compared lane by lane
(ignoring process ids and times); when they differ the program breaks the assumption and nothing is graded.
Not seen by the recorder, so not ordered (the model then allows more orders, never fewer): futexes
(pthread_join, mutexes), shared memory, sockets, files; pipes with several writers or several readers get only
their end-of-file edges. Not modelled: SIGCHLD deliveries (they arrive at any point; a SIGCHLD handler that
writes breaks the assumption); a race on a shared file or memory that decides what a process does is
scheduling-dependent control flow: the comparison of runs catches it when the runs took different sides.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from forklab.sandbox.trace_events import Trace, record

ASSUMPTION = ("the program's control flow does not depend on the scheduling: each process makes the same calls "
              "and writes the same bytes whatever order the processes run in")

#: Event kinds the model orders (the others - start, stopped, continued, exec_failed - order nothing here).
KINDS = {"create", "exec", "write", "pipe_write", "pipe_read", "signal_sent", "signal", "reap", "exit", "vfork_done"}
#: Counting by dynamic programming over down-sets keeps at most this many states; beyond, "more than N".
MAX_STATES = 200_000


class OrdersError(ValueError):
    """The program cannot be modelled (it was not traced, or it breaks the model's assumption)."""


@dataclass(frozen=True)
class Verdict:
    """possible: is the order one the program can print; why: in words."""
    possible: bool
    why: str

    def __bool__(self):
        return self.possible

    def __str__(self):
        return self.why


@dataclass
class Enumeration:
    """The possible orders (up to a limit) and how many there are: count is exact, or the limit with more=True."""
    orders: list
    count: int
    more: bool = False

    @property
    def complete(self) -> bool:
        """Every possible order is listed."""
        return not self.more and len(self.orders) == self.count

    def __str__(self):
        return f"more than {self.count} orders" if self.more else f"{self.count} order{'s' * (self.count != 1)}"


# --- the lanes and their events -------------------------------------------------------------------------

@dataclass
class Lane:
    tid: int
    pid: int
    path: tuple                      # () for the program, (1,) its first child, (1, 2) that child's second...
    nodes: list = field(default_factory=list)
    name: str = ""


def label_of(data) -> str:
    """An output item as a student writes it: its text without the final newline."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return str(data).rstrip("\n")


def _lanes(trace: Trace) -> dict:
    """tid -> Lane, with structural paths (creation order below each creator), from the root down."""
    lanes, todo = {}, [(trace.root, ())]
    while todo:
        tid, path = todo.pop(0)
        proc = trace.processes.get(tid)
        if proc is None or tid in lanes:
            continue
        lanes[tid] = Lane(tid, proc.pid, path)
        todo += [(c, path + (i,)) for i, c in enumerate(proc.children, 1)]
    return lanes


def _internal_pipes(trace: Trace) -> set:
    """Pipes some lane of the program reads: a write to one is a pipe write, not output."""
    return {e.pipe for e in trace.events if e.kind == "pipe_read" and e.pipe}


def _kept(e, internal: set) -> bool:
    if e.kind not in KINDS:
        return False
    if e.kind == "signal" and e.signal == "SIGCHLD":
        return False                        # arrives at any point; see the module's note
    if e.kind == "write" and not (e.length or 0) > 0:
        return False
    return not (e.kind == "reap" and e.call == "tracer")


def _is_item(e, internal: set) -> bool:
    """A write that reached the program's shared output (the recorder's capture pipe), not one of its own pipes."""
    return e.kind == "write" and e.pipe is not None and e.pipe not in internal


def structure(trace: Trace) -> dict:
    """Per lane (by path), what it did: calls, writes, exits - without process ids or times. Two runs of a program
    whose control flow does not depend on the scheduling have the same structure."""
    lanes, internal = _lanes(trace), _internal_pipes(trace)
    ids = {str(n) for t in trace.processes.values() for n in (t.pid, t.tid)}
    path_of = {tid: lane.path for tid, lane in lanes.items()}

    def mask(data: bytes) -> str:
        return re.sub(r"\d+", lambda m: "<pid>" if m.group() in ids else m.group(), data.decode("latin-1"))

    out = {}
    for tid, lane in lanes.items():
        steps = []
        for e in trace.processes[tid].events:
            if not _kept(e, internal):
                continue
            if e.kind == "create":
                steps.append(("create", e.call, path_of.get(e.child)))
            elif e.kind == "exec":
                steps.append(("exec", e.path))
            elif _is_item(e, internal):
                steps.append(("write", e.fd, mask(e.data)))
            elif e.kind in ("write", "pipe_write", "pipe_read"):
                steps.append(("pipe_read" if e.kind == "pipe_read" else "pipe_write", e.length))
            elif e.kind == "signal_sent":
                target = next((lanes[t].path for t in lanes if lanes[t].pid == e.target), "a process group")
                steps.append(("kill", e.signal, target))
            elif e.kind == "signal":
                steps.append(("signal", e.signal))
            elif e.kind == "reap":
                steps.append(("wait", "any child" if _any(e) else path_of.get(e.child)))
            elif e.kind == "exit":
                steps.append(("exit", e.status, e.signal))
            else:
                steps.append((e.kind,))
        out[lane.path] = steps
    return out


def _any(reap) -> bool:
    """Could this wait have returned another child? wait4's pid -1 (any), 0 or < -1 (a process group: taken as
    any child, which allows more, never fewer, orders). Unknown (an older record): any."""
    return reap.asked is None or reap.asked <= 0


def _say_step(step) -> str:
    kind = step[0]
    if kind == "write":
        return f"writes {label_of(step[2])!r}"
    if kind == "create":
        return f"calls {step[1]}()"
    if kind == "exec":
        return f"execs {step[1]}"
    if kind == "wait":
        return "waits for " + ("any child" if step[1] == "any child" else "a child")
    if kind == "exit":
        return f"exits ({step[1] if step[2] is None else step[2]})"
    if kind == "kill":
        return f"sends {step[1]}"
    if kind == "signal":
        return f"receives {step[1]}"
    if kind in ("pipe_read", "pipe_write"):
        return f"{'reads' if kind == 'pipe_read' else 'writes'} {step[1]} bytes {'from' if kind == 'pipe_read' else 'to'} a pipe"
    return kind.replace("_", " ")


def _call_words(create) -> str:
    """glibc's fork() is a clone system call without CLONE_VM; name it as the program wrote it."""
    if create.call == "vfork" or "CLONE_VFORK" in create.flags:
        return "vfork()"
    if create.thread:
        return "clone() (a new thread)"
    if create.call in ("fork", "clone") and "CLONE_VM" not in create.flags:
        return "fork()"
    return f"{create.call}()"


def _lane_words(path: tuple) -> str:
    return "the program's first process" if not path else "process main." + ".".join(map(str, path))


def compare_runs(structures: list) -> str | None:
    """None when every run did the same; otherwise the first difference, in words."""
    first = structures[0]
    for n, other in enumerate(structures[1:], 2):
        if other == first:
            continue
        for path in sorted(set(first) | set(other), key=lambda p: (len(p), p)):
            a, b = first.get(path), other.get(path)
            if a is None or b is None:
                there = 1 if a is not None else n
                return (f"{_lane_words(path)} exists in run {there} but not in run {n if there == 1 else 1}: "
                        f"{ASSUMPTION} does not hold here, so its orders cannot be graded from its structure")
            if a != b:
                i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                did = lambda steps: _say_step(steps[i]) if i < len(steps) else "does nothing more"
                return (f"the runs differ: at its step {i + 1}, {_lane_words(path)} {did(a)} in run 1 but {did(b)} "
                        f"in run {n}. The model needs {ASSUMPTION}; this program breaks it (its control flow "
                        f"depends on which process ran first), so its output orders are not graded")
    return None


# --- the happens-before graph ---------------------------------------------------------------------------

class Model:
    """One recorded run as nodes (the kept events of each lane) and happens-before edges with their reasons."""

    def __init__(self, trace: Trace):
        if trace.refusal is not None:
            raise OrdersError(str(trace.refusal))
        if trace.limit:
            raise OrdersError(f"the run was stopped ({trace.limit}): only a whole run can be modelled")
        self.trace = trace
        self.lanes = _lanes(trace)
        internal = _internal_pipes(trace)
        self.events, self.lane_of, self.items = [], [], []       # node -> event, node -> tid; item -> node
        for tid, lane in self.lanes.items():
            for e in trace.processes[tid].events:
                if _kept(e, internal):
                    lane.nodes.append(len(self.events))
                    if _is_item(e, internal):
                        self.items.append(len(self.events))
                    self.events.append(e)
                    self.lane_of.append(tid)
        self.items.sort(key=lambda n: trace.events.index(self.events[n]))     # in the recorded (real) order
        self.labels = [label_of(self.events[n].data) for n in self.items]
        self.edges = []                                  # (before, after, reason)
        for lane in self.lanes.values():
            self.edges += [(a, b, "order") for a, b in zip(lane.nodes, lane.nodes[1:])]
        self._creations()
        self._pipes(internal)
        self._signals()
        self._waits()
        self._graph()
        self._name_lanes()

    def _first(self, tid, kinds=None):
        lane = self.lanes.get(tid)
        for n in lane.nodes if lane else ():
            if kinds is None or self.events[n].kind in kinds:
                return n
        return None

    def _creations(self):
        for n, e in enumerate(self.events):
            if e.kind != "create":
                continue
            first = self._first(e.child)
            if first is not None:
                self.edges.append((n, first, "create"))
            if e.call == "vfork" or "CLONE_VFORK" in e.flags:
                release = self._first(e.child, {"exec", "exit"})
                mine = self.lanes[self.lane_of[n]].nodes
                after = mine[mine.index(n) + 1:]
                done = next((m for m in after if self.events[m].kind == "vfork_done"), after[0] if after else None)
                if release is not None and done is not None:
                    self.edges.append((release, done, "vfork"))

    def _pipes(self, internal):
        for pipe in internal:
            writes = [n for n, e in enumerate(self.events) if e.pipe == pipe and e.kind in ("write", "pipe_write")]
            reads = [n for n, e in enumerate(self.events) if e.pipe == pipe and e.kind == "pipe_read"]
            writers = {self.lane_of[n] for n in writes}
            for w in writers:                       # end of file needs every write end closed
                last = [n for n in writes if self.lane_of[n] == w][-1]
                self.edges += [(last, r, "eof") for r in reads if self.events[r].length == 0]
            if len(writers) != 1 or len({self.lane_of[n] for n in reads}) != 1:
                continue                            # several writers or readers: which bytes went where is open
            ends, total = [], 0
            for n in writes:
                total += max(self.events[n].length or 0, 0)
                ends.append((total, n))
            got = 0
            for r in reads:
                got += max(self.events[r].length or 0, 0)
                if self.events[r].length:           # the write holding the last byte this read returned
                    writer = next((n for end, n in ends if end >= got), None)
                    if writer is not None:
                        self.edges.append((writer, r, "pipe"))

    def _signals(self):
        at = {id(e): i for i, e in enumerate(self.trace.events)}
        sent = sorted((n for n, e in enumerate(self.events) if e.kind == "signal_sent"), key=lambda m: at[id(self.events[m])])
        # Standard signals are not queued (signal(7)): two sendings while one is pending make one delivery, and
        # pairing the spare sending with a later delivery would be a false edge. Where a lane got fewer deliveries
        # of a signal than were sent to it, its deliveries of that signal get no edge (looser, never wrong).
        def aimed_at(k, e):
            return k.signal == e.signal and k.target in (e.pid, e.tid)
        merged = set()
        for n, e in enumerate(self.events):
            if e.kind == "signal":
                deliveries = sum(1 for d in self.events if d.kind == "signal" and d.signal == e.signal
                                 and d.tid == e.tid)
                if sum(1 for s in sent if aimed_at(self.events[s], e)) > deliveries:
                    merged.add(n)
        used = set()
        for n, e in enumerate(self.events):
            if e.kind != "signal" or n in merged:
                continue
            for s in sent:                   # the earliest sending of this signal to this lane, recorded before it
                k = self.events[s]
                if s in used or k.signal != e.signal or (e.sender and k.pid != e.sender) or at[id(k)] > at[id(e)]:
                    continue
                if k.target in (e.pid, e.tid) or k.target <= 0:
                    used.add(s)
                    self.edges.append((s, n, "signal"))
                    break

    def _waits(self):
        """A wait for one child: an edge from its exit. The waits that may return any child: a gate each (see
        closure); a process's any-child waits share the children no waitpid(pid) of it names."""
        self.gates, self.any_waits = {}, {}                  # wait node -> exit nodes it may take; pid -> waits
        named = {(e.pid, e.child) for e in self.events if e.kind == "reap" and not _any(e)}
        for n, e in enumerate(self.events):
            if e.kind != "reap":
                continue
            if not _any(e):
                exit_ = self._first(e.child, {"exit"})
                if exit_ is not None:
                    self.edges.append((exit_, n, "reap"))
                continue
            kids = [c for tid, lane in self.lanes.items() for c in self.trace.processes[tid].children
                    if lane.pid == e.pid and not self.trace.processes[c].thread and (e.pid, c) not in named]
            self.gates[n] = [x for x in (self._first(c, {"exit"}) for c in kids) if x is not None]
            self.any_waits.setdefault(e.pid, []).append(n)
        # Two threads of one process each waiting for any child: running one thread's wait early takes a child
        # the other thread's wait could have had, so the gates would miss real orders (a second reader's
        # counterexample: c1 a c2 b, printed 6 of 6 times, was called impossible). Refuse rather than grade.
        self.unsupported = None
        for pid, waits in self.any_waits.items():
            if len({self.lane_of[w] for w in waits}) > 1:
                self.unsupported = (f"two threads of process {pid} each wait for any child: which thread gets which "
                                    "child is a choice this model does not branch over, so its output orders are "
                                    "not graded")

    def _name_lanes(self):
        firsts = {}
        for i, n in enumerate(self.items):
            firsts.setdefault(self.lane_of[n], self.labels[i])
        counted = {}
        for label in firsts.values():
            counted[label] = counted.get(label, 0) + 1
        for tid, lane in self.lanes.items():
            label, paths = firsts.get(tid), self.trace.processes[tid].exec_paths
            if not lane.path and self.trace.processes[tid].children:
                lane.name = "the parent"
            elif label is not None and counted[label] == 1:
                lane.name = f"{label}'s process" if re.fullmatch(r"[\w.!?-]{1,12}", label) else \
                    f"the process that writes {label!r}"
            elif not lane.path:
                lane.name = "the program's first process"
            else:
                lane.name = _lane_words(lane.path) + (f" ({paths[-1].rsplit('/', 1)[-1]})" if paths else "")

    # --- the states: which writes are done ---------------------------------------------------------------

    def _graph(self):
        n = len(self.events)
        self.preds = [[] for _ in range(n)]
        self.need = [0] * n                          # bits of the nodes that must be done first
        for a, b, why in self.edges:
            self.preds[b].append((a, why))
            self.need[b] |= 1 << a
        self.item_bit = {node: i for i, node in enumerate(self.items)}
        self.gate_bits = {w: sum(1 << x for x in exits) for w, exits in self.gates.items()}
        self.wait_bits = {pid: sum(1 << w for w in waits) for pid, waits in self.any_waits.items()}
        self._closed = {}
        succ = [[] for _ in range(n)]
        for a, b, _ in set(self.edges):
            succ[a].append(b)
        indeg = [len({a for a, _ in self.preds[v]}) for v in range(n)]
        self.topo, ready = [], [v for v in range(n) if indeg[v] == 0]
        while ready:                                 # a topological order: one pass of closure() follows the edges
            v = ready.pop()
            self.topo.append(v)
            for w in set(succ[v]):
                indeg[w] -= 1
                if indeg[w] == 0:
                    ready.append(w)
        if len(self.topo) != n:
            raise OrdersError("the recorded events contradict each other (their happens-before edges make a cycle): "
                              "this record cannot be modelled")

    def _gate_open(self, w, done: int) -> bool:
        """A wait for any child returns once more of its children have exited than its process's earlier such
        waits returned (each returns a different child; by Hall's theorem, taking any exited one each time
        is always possible, so this count is exactly the condition)."""
        pid = self.events[w].pid
        return bin(done & self.gate_bits[w]).count("1") > bin(done & self.wait_bits[pid]).count("1")

    def closure(self, written: int) -> int:
        """The nodes done when the items in `written` (bits by item index) are: every other event is done as
        early as it can be (doing one never stops another: the edges and the gates only ever need more)."""
        if written in self._closed:
            return self._closed[written]
        done = sum(1 << node for node in self.items if written >> self.item_bit[node] & 1)
        changed = True
        while changed:
            changed = False
            for v in self.topo:
                if done >> v & 1 or v in self.item_bit or self.need[v] & ~done:
                    continue
                if v in self.gates and not self._gate_open(v, done):
                    continue
                done |= 1 << v
                changed = True
        self._closed[written] = done
        return done

    def enabled(self, written: int) -> list:
        """The items that can be written next."""
        done = self.closure(written)
        return [i for i, node in enumerate(self.items) if not written >> i & 1 and not self.need[node] & ~done]

    # --- why an item cannot come yet, in words ---------------------------------------------------------

    def _name(self, node) -> str:
        return self.lanes[self.lane_of[node]].name

    def _steps(self, start, goal) -> list | None:
        """The cross-lane edges of a shortest chain of edges from start to goal, each in words."""
        back, todo = {goal: None}, [goal]
        while todo and start not in back:
            v = todo.pop(0)
            for a, why in self.preds[v]:
                if a not in back:
                    back[a] = (v, why)
                    todo.append(a)
        if start not in back:
            return None
        steps, v, first = [], start, self._name(start)
        while back.get(v):
            w, why = back[v]
            if why != "order":
                steps.append(self._say(v, w, why, first))
            v = w
        return steps

    def _chain(self, start, goal, ending: str) -> str:
        steps = self._steps(start, goal) or []
        name = self._name(goal)
        if not steps:
            return ending
        last = f", then {ending}" if steps[-1].endswith(name) else f", then {name} {ending}"
        return ", then ".join(steps) + last

    def why_not(self, item: int, written: int) -> str:
        """Why item cannot be written when the items in `written` are: the nearest thing not done that it needs -
        another item (and the chain of edges from it), or a wait for any child that no exited child lets return."""
        done, goal = self.closure(written), self.items[item]
        x = self.labels[item]
        seen, todo = {goal}, [goal]
        while todo:
            v = todo.pop(0)
            if v != goal and v in self.item_bit:
                y = self.labels[self.item_bit[v]]
                chain = self._chain(v, goal, f"writes {x!r}")
                if chain == f"writes {x!r}":
                    return f"{x!r} can't come before {y!r}: {self._name(v)} writes {y!r} before {x!r} (program order)"
                return f"{x!r} can't come before {y!r}: {self._name(v)} writes {y!r}, then {chain}"
            if v in self.gates and not self.need[v] & ~done:
                return self._why_gate(v, goal, x, done)
            for a, _ in self.preds[v]:
                if not done >> a & 1 and a not in seen:
                    seen.add(a)
                    todo.append(a)
        return f"{x!r} can't come yet"

    def _why_gate(self, w, goal, x, done) -> str:
        waiting = [c for c in self.gates[w] if not done >> c & 1]
        reasons, ys = [], []
        for exit_ in waiting:                         # what each child still has to write before it exits
            seen, todo, found = {exit_}, [exit_], None
            while todo and found is None:
                v = todo.pop(0)
                if v in self.item_bit:
                    found = v
                for a, _ in self.preds[v]:
                    if not done >> a & 1 and a not in seen:
                        seen.add(a)
                        todo.append(a)
            if found is not None and self.labels[self.item_bit[found]] not in ys:
                y = self.labels[self.item_bit[found]]
                ys.append(y)
                reasons.append(f"{self._name(found)} writes {y!r}, then " + self._chain(found, exit_, "exits")
                               .replace(f"{self._name(exit_)} exits", "exits"))
        after = self._chain(w, goal, f"writes {x!r}")
        after = f"{self._name(goal)} {after}" if after.startswith("writes") else after
        names = [repr(y) for y in ys]
        if len(names) == 1:
            return (f"{x!r} can't come before {names[0]}: the wait() in {self._name(w)} returns a child only once "
                    f"it has exited, and the one child left for it writes first: {reasons[0]}. Then the wait "
                    f"returns, then {after}")
        head = ("both " if len(names) == 2 else "all of ") + ", ".join(names[:-1]) + " and " + names[-1]
        return (f"{x!r} can't come before {head}: whichever child the wait() in {self._name(w)} returns, it must "
                f"have exited first, and each child left for it writes first: "
                + "; or ".join(reasons) + f". Then the wait returns, then {after}")

    def _say(self, a, b, why, first: str) -> str:
        ea = self.events[a]
        na, nb = self._name(a), self._name(b)
        if why == "create":
            whose = "its" if na == first else na + "'s"
            return f"{whose} {_call_words(ea)} created {nb}"
        if why == "vfork":
            return f"{nb} was suspended in vfork() until {na} {'called exec' if ea.kind == 'exec' else 'exited'}"
        if why == "reap":
            return f"{'it' if na == first else na} exited before the wait() in {nb} returned it"
        if why == "pipe":
            return f"{'its' if na == first else na + chr(39) + 's'} write to a pipe came before {nb}'s read that got those bytes"
        if why == "eof":
            return f"{nb} reached the pipe's end of file only after {na} had written to it and closed it"
        return f"{'it' if na == first else na} sent {ea.signal} before {nb} received it"


# --- the orders ---------------------------------------------------------------------------------------

class Orders:
    """The possible output orders of a recorded program: the orders of its output writes that keep every
    happens-before edge and let every wait for any child return an exited one."""

    def __init__(self, traces: list):
        if not traces:
            raise ValueError("Orders needs at least one recorded run")
        for t in traces:
            if t.refusal is not None:
                raise OrdersError(str(t.refusal))
        self.traces = traces
        self.model = Model(traces[0])
        self.broken = ((compare_runs([structure(t) for t in traces]) if len(traces) > 1 else None)
                       or self.model.unsupported)
        self.labels = list(self.model.labels)

    def __repr__(self):
        return f"<Orders of {len(self.labels)} writes: {', '.join(map(repr, self.labels))}>"

    def _check(self):
        if self.broken:
            raise OrdersError(self.broken)

    # possible(order) ----------------------------------------------------------------------------------

    def possible(self, order) -> Verdict:
        """Can the program write its output in this order? order: the output items, as strings or bytes (each
        item without or with its final newline), or the whole output as one text, one item a line."""
        self._check()
        if isinstance(order, bytes):
            order = order.decode("utf-8", "replace")
        if isinstance(order, str):
            order = order.splitlines()
        wanted = [label_of(x) for x in order]
        bad = self._not_a_permutation(wanted)
        if bad:
            return Verdict(False, bad)
        got, stuck = self._place(wanted)
        if stuck is None:
            return Verdict(True, "possible: it keeps every happens-before edge")
        item, written = stuck
        return Verdict(False, self.model.why_not(item, written))

    def _not_a_permutation(self, wanted) -> str | None:
        have = {}
        for label in self.labels:
            have[label] = have.get(label, 0) + 1
        for label in wanted:
            if label not in have:
                return f"{label!r} is not something this program writes; it writes {', '.join(map(repr, self.labels))}"
        for label, count in have.items():
            listed = wanted.count(label)
            if listed != count:
                return (f"the program writes {label!r} {count} time{'s' * (count != 1)}; "
                        f"the order has it {listed} time{'s' * (listed != 1)}")
        return None

    def _place(self, wanted):
        """Try to write `wanted` in this order. Returns (how far it got, None) when it fits, else (how far,
        (the item that could not come next, the items written by then)) at the furthest point reached."""
        failed, furthest = set(), [-1, None]

        def go(written: int, k: int) -> bool:
            if k == len(wanted):
                return True
            if written in failed:
                return False
            ready = set(self.model.enabled(written))
            blocked = None
            for i, label in enumerate(self.labels):
                if label != wanted[k] or written >> i & 1:
                    continue
                if i not in ready:
                    blocked = blocked if blocked is not None else i
                elif go(written | 1 << i, k + 1):
                    return True
            if blocked is not None and k > furthest[0]:
                furthest[:] = [k, (blocked, written)]
            failed.add(written)
            return False

        if go(0, 0):
            return len(wanted), None
        return furthest[0], furthest[1]

    # all() and count() --------------------------------------------------------------------------------

    def _start(self):
        return frozenset({0})

    def _next(self, state) -> dict:
        """From a set of states (the items written: several when equal labels were written in different
        ways), each label that can come next -> the next set."""
        out = {}
        for written in state:
            for i in self.model.enabled(written):
                out.setdefault(self.labels[i], set()).add(written | 1 << i)
        return {label: frozenset(s) for label, s in out.items()}

    def all(self, limit: int = 1000) -> Enumeration:
        """The possible orders, at most `limit` of them listed, and how many there are: counted exactly by
        dynamic programming over the down-sets when there are not too many of them (counting linear extensions
        is #P-complete in general), else 'more than limit'."""
        self._check()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a whole number of orders, 1 or more; got {limit!r}")
        full = (1 << len(self.labels)) - 1
        listed = []

        def walk(state, prefix):
            if len(listed) >= limit:
                return
            if full in state:
                listed.append(tuple(prefix))
                return
            for label, nxt in sorted(self._next(state).items()):
                walk(nxt, prefix + [label])

        walk(self._start(), [])
        count = self.count()
        if count is None:
            return Enumeration(listed, limit, more=True) if len(listed) >= limit else Enumeration(listed, len(listed))
        return Enumeration(listed, count)

    def count(self) -> int | None:
        """How many distinct orders (of the labels) the program can print; None when there are too many states."""
        self._check()
        full = (1 << len(self.labels)) - 1
        memo = {}

        def count(state):
            if state in memo:
                return memo[state]
            if full in state:
                return 1
            if len(memo) > MAX_STATES:
                raise OverflowError
            memo[state] = sum(count(nxt) for nxt in self._next(state).values())
            return memo[state]

        try:
            return count(self._start())
        except (OverflowError, RecursionError):
            return None


def orders(program, runs: int = 3, *, timeout: float = 10.0, max_procs: int = 64) -> Orders:
    """Record `program` (argv: a list, or a shell command: a string) `runs` times and model its output orders.
    Runs that differ in structure are kept: the Orders then says why it will not grade (Orders.broken)."""
    if isinstance(program, str):
        argv = ["sh", "-c", program]
    elif isinstance(program, (list, tuple)) and program and all(isinstance(a, (str, bytes)) or hasattr(a, "__fspath__")
                                                                 for a in program):
        argv = [str(a) for a in program]
    else:
        raise ValueError(f"program must be a shell command (a string) or an argv list such as ['./a.out']; "
                         f"got {program!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 100:
        raise ValueError(f"runs must be a whole number from 1 to 100 (2 or more check the assumption); got {runs!r}")
    return Orders([record(argv, timeout=timeout, max_procs=max_procs) for _ in range(runs)])


# --- grading "which outputs can this program print?" ----------------------------------------------------

@dataclass
class Grade:
    correct: bool
    impossible: list          # orders the student listed that the program cannot print (with the reason)
    missed: list              # valid orders the student did not list
    feedback: str

    def __bool__(self):
        return self.correct

    def __str__(self):
        return self.feedback


def _as_order(order) -> tuple:
    """An order as labels: a list of items, or the output as text (one item a line)."""
    if isinstance(order, bytes):
        order = order.decode("utf-8", "replace")
    if isinstance(order, str):
        order = order.splitlines()
    return tuple(label_of(x) for x in order)


def _show(order) -> str:
    return " ".join(label_of(x) for x in order)


def grade_orders(student_orders, question_orders=None, program=None, *, model: Orders | None = None,
                 need: int | None = None, limit: int = 1000) -> Grade:
    """Grade a student's list of orders against what the program can print.

    question_orders: the orders the question offers (a multiple choice); None means every possible order.
    need: None, the student must list every valid one the question asks about; a number, any `need` valid
    orders are enough (e.g. "give two outputs this can print"). Each impossible order the student listed is
    named with the edge it breaks; each valid one missed is named."""
    if model is None:
        if program is None:
            raise ValueError("grade_orders needs the program (argv or a shell command) or model=orders(...)")
        model = orders(program)
    listed = [_as_order(o) for o in student_orders]
    impossible = []
    for o in dict.fromkeys(listed):
        verdict = model.possible(o)
        if not verdict:
            impossible.append((o, verdict.why))
    if question_orders is None:
        every = model.all(limit=limit)
        if not every.complete and need is None:
            raise OrdersError(f"this program has {every}, more than the limit of {limit} to list: ask about a list "
                              f"of orders (question_orders), or ask for some (need=)")
        valid = list(every.orders)
    else:
        valid = [_as_order(o) for o in question_orders]
        valid = [o for o in dict.fromkeys(valid) if model.possible(o)]
    chosen = set(listed)
    missed = [o for o in valid if o not in chosen]
    good = len([o for o in chosen if o in set(valid)])
    enough = good >= need if need is not None else not missed
    lines = [f"Not possible: {_show(o)} - {why}." for o, why in impossible]
    if need is None:
        lines += [f"Missed: {_show(o)} is also possible." for o in missed]
    elif not enough:
        lines.append(f"{good} valid order{'s' * (good != 1)} listed; the question asks for {need}.")
    correct = not impossible and enough
    if correct:
        lines.insert(0, "Correct: every order listed is possible" + ("" if need else ", and none is missing") + ".")
    return Grade(correct, impossible, missed if need is None else [], "\n".join(lines))
