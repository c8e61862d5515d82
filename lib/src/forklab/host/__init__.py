"""forklab.host: What this machine is and allows (kernel, capabilities, seccomp, namespaces, /proc), discovered
once, and the one /proc/PID/stat parser. The bottom layer: it imports the standard library only.
"""
