"""The C call that makes a request, as the explorer and an Observation show it."""
from __future__ import annotations

from forklab.engine.flags import FLAGS, c_expression


def c_call_of(primitive: str, mask: int, signal_name: str | None) -> str:
    """The C call that makes this request (the explorer shows it for refused requests too)."""
    if primitive == "fork":
        return "pid = fork();"
    if primitive == "vfork":
        return "pid = vfork();"
    if primitive == "clone":
        return f"pid = clone(child_fn, stack_top, {c_expression(mask, signal_name)}, arg);"
    flags = c_expression(mask, None)
    fields = [f".flags = {flags}", f".exit_signal = {signal_name or 0}"]
    if mask & FLAGS["CLONE_VM"].value:
        fields += [".stack = (uintptr_t)stack", ".stack_size = STACK_SIZE"]
    return ("struct clone_args args = { " + ", ".join(fields) + " };\n"
            "pid = syscall(SYS_clone3, &args, sizeof args);")
