"""forklab.course.output_orders: the orders a small fork program can print - exact on hand-made programs,
equal to every schedule a brute-force search finds, and never contradicted by the kernel."""
import pytest

from forklab.course import output_orders as oo
from forklab.course.output_orders import Fork, Print, Program, Wait


def orders(*texts):
    return {tuple(t.split()) for t in texts}


def test_a_waitpid_puts_the_child_s_line_before_the_parent_s_next():
    p = Program((Print("A"), Fork("c1", (Print("B"),)), Wait("c1"), Print("C")))
    assert oo.possible_orders(p) == orders("A B C")
    why = oo.why_impossible(p, ("A", "C", "B"))
    assert why.startswith("C cannot come before B") and "main's waitpid(c1) returns" in why and "c1 exits" in why


def test_without_a_wait_parent_and_child_race():
    p = Program((Fork("c1", (Print("A"),)), Print("B")))
    assert oo.possible_orders(p) == orders("A B", "B A")
    assert oo.why_impossible(p, ("B", "A")) is None
    assert "B may come before A" in oo.why_possible(p, ("B", "A"))


def test_a_child_cannot_print_before_the_fork_that_creates_it():
    p = Program((Print("A"), Fork("c1", (Print("B"), Fork("c2", (Print("C"),)))), Print("D")))
    assert oo.possible_orders(p) == orders("A B C D", "A B D C", "A D B C")
    why = oo.why_impossible(p, ("C", "A", "B", "D"))
    assert why.startswith("C cannot come before A") and "main forks c1" in why and "fork() that creates it" in why


def test_waitpid_waits_for_the_child_not_for_the_grandchild():
    # c1 forks c2 and exits; main's waitpid(c1) says nothing about c2, whose A may come last
    p = Program((Fork("c1", (Fork("c2", (Print("A"),)), Print("B"))), Wait("c1"), Print("C")))
    assert oo.possible_orders(p) == orders("A B C", "B A C", "B C A")
    nested = Program((Fork("c1", (Fork("c2", (Print("A"),)), Wait("c2"), Print("B"))), Wait("c1"), Print("C")))
    assert oo.possible_orders(nested) == orders("A B C")


def test_a_program_that_waits_for_a_stranger_is_refused():
    with pytest.raises(ValueError, match="not a child it forked before"):
        oo.possible_orders(Program((Wait("c1"), Fork("c1", (Print("A"),)))))
    with pytest.raises(ValueError, match="printed once"):
        oo.possible_orders(Program((Print("A"), Fork("c1", (Print("A"),)))))


def test_an_order_is_read_from_text_and_a_wrong_one_names_the_letters():
    assert oo.parse_order("a, c b", "ABC") == ("A", "C", "B")
    with pytest.raises(ValueError, match="letters A B C"):
        oo.parse_order("A A B", "ABC")


def _every_schedule(program):
    """Brute force: every interleaving of the processes' steps the rules allow, and the letters each prints."""
    procs = program.processes()
    found = set()

    def step(pcs, started, exited, printed):
        moved = False
        for name in started:
            if name in exited:
                continue
            pc = pcs[name]
            body = procs[name]
            if pc == len(body):
                moved = True
                step(pcs, started, exited | {name}, printed)
                continue
            s = body[pc]
            if isinstance(s, Wait) and s.child not in exited:
                continue
            moved = True
            nxt = dict(pcs, **{name: pc + 1})
            if isinstance(s, Print):
                step(nxt, started, exited, printed + (s.letter,))
            elif isinstance(s, Fork):
                step(dict(nxt, **{s.child: 0}), started | {s.child}, exited, printed)
            else:
                step(nxt, started, exited, printed)
        if not moved:
            assert exited == started, "a schedule got stuck"
            found.add(printed)

    step({"main": 0}, frozenset({"main"}), frozenset(), ())
    return found


@pytest.mark.parametrize("seed", range(40))
def test_the_model_is_exactly_every_schedule(seed):
    program = oo.random_program(seed)
    assert oo.possible_orders(program) == _every_schedule(program)


def test_random_programs_are_reproducible_and_worth_asking():
    for seed in range(60):
        p = oo.random_program(seed)
        assert p == oo.random_program(seed)
        assert 2 <= len(p.processes()) <= 4 and 3 <= len(p.letters()) <= 5
        assert 2 <= len(oo.possible_orders(p)) < len(oo.every_order(p.letters()))
        assert p.letters() == tuple(sorted(p.letters())), "letters read top to bottom"
    assert len({oo.random_program(s) for s in range(30)}) > 20
    assert any(isinstance(s, Wait) for seed in range(10) for b in oo.random_program(seed).processes().values()
               for s in b)
    with pytest.raises(ValueError, match="whole number"):
        oo.random_program(-1)


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 7, 11])
def test_every_order_the_kernel_prints_is_one_the_model_allows(seed):
    program = oo.random_program(seed)
    runs = oo.run_for_real(program, runs=20)
    assert runs.problem == "" and sum(runs.orders.values()) == 20
    assert runs.outside(oo.possible_orders(program)) == []


def test_the_program_shown_is_the_program_run():
    p = oo.random_program(3)
    shown = p.c_source()
    run = oo.harness_source(p, 5)
    assert shown.replace("int main(void) {", "static int program(void) {") in run
    with pytest.raises(ValueError, match="from 1 to"):
        oo.run_for_real(p, runs=0)
