# forklab in a container: the image a laptop (macOS, Windows, Linux) or a JupyterHub runs.
#
#   docker build -t forklab .
#   docker run --rm -p 8888:8888 forklab          # then open the http://127.0.0.1:8888/lab/tree/...?token=...
#                                                 # it prints: it opens the course's first notebook
#
# It installs exactly what Binder does (binder/): requirements.txt, then ./lib built with gcc.
# Experiments run on the host's kernel - that is what the course measures - as the unprivileged user
# `student`, under Docker's default seccomp profile, which refuses clone() with any CLONE_NEW* flag
# (EPERM), clone3() (ENOSYS), unshare, setns, mount and kcmp. The course works like that: it finds out
# what the machine allows, explains each refusal and shows reference outputs for the namespace chapter.
#
# To watch namespaces being made too, relax the profile for this one container:
#   docker run --rm -p 8888:8888 --security-opt seccomp=unconfined forklab
#       clone3, kcmp, and user namespaces - and, in the same call as CLONE_NEWUSER, every other
#       namespace - for `student` (if the host kernel lets unprivileged users create user namespaces).
#   ... --security-opt apparmor=unconfined   on AppArmor hosts (Ubuntu) as well: Docker's AppArmor
#       profile denies mount(), so the tmpfs the child mounts in its new mount namespace is refused.
#   ... --security-opt systempaths=unconfined   for the last two programs (Podman: --security-opt unmask=ALL):
#       every container gets /proc/sys, /proc/bus, /proc/fs, /proc/irq read-only and /proc/kcore, /proc/keys,
#       ... masked, so notebook 16 cannot set the next PID of its own PID namespace (ns_last_pid: EROFS) and
#       notebook 10's tiny container cannot mount a fresh /proc (the kernel refuses a procfs while no procfs
#       of the container is fully visible - the read-only mounts and the masks each hide part of it: EPERM).
#       Both cells then explain this and show their recorded output. The cost: a process that is root in the
#       container (`docker exec -u 0`) can then write /proc/sys - host-wide kernel settings, e.g.
#       kernel.core_pattern, which runs a program as root on the host: an escape from the container - and
#       /proc/sysrq-trigger (reboot or crash the host), and read /proc/keys, /proc/timer_list,
#       /proc/sched_debug (/proc/kcore stays closed: opening it needs CAP_SYS_RAWIO, which Docker does not
#       grant). Fine for a throw-away container on your laptop, not for a shared server.
# --cap-add SYS_ADMIN does not help `student`: a non-root user has no capabilities either way. (Docker's
# profile does let a *root* container with CAP_SYS_ADMIN make namespaces - but a root notebook with that
# capability can also change the container's mounts; prefer the options above.)
# Kubernetes (a JupyterHub) runs pods without seccomp unless the kubelet's --seccomp-default or the pod
# asks for RuntimeDefault; to be explicit, set in the single-user pod's securityContext:
#   seccompProfile: {type: Unconfined}      (and, on AppArmor nodes, appArmorProfile: {type: Unconfined},
#                                            Kubernetes 1.30+)
# and, in the container's securityContext, procMount: Unmasked for the /proc of systempaths=unconfined (the
# ProcMountType feature). The API server accepts Unmasked only in a pod with its own user namespace
# (hostUsers: false), where root in the container is not root on the host, so the /proc/sys cost above
# mostly does not apply; Pod Security admission's Baseline level admits it there from policy version v1.34
# (earlier only with the UserNamespacesPodSecurityStandards feature gate). Without it the two cells above
# show their recordings.
# For a JupyterHub, also install the hub's own version of jupyterhub: --build-arg JUPYTERHUB=5.2.1
# BASE: tests/test_container.py gives a local stand-in for python:3.11-slim where no registry is reachable.
ARG BASE=python:3.11-slim
FROM $BASE

# gcc and libc6-dev: forklab's C core and the notebooks' C cells; strace: which system calls really happen.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev strace \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --shell /bin/bash student \
 && mkdir /home/student/forklab && chown student: /home/student/forklab \
 && python -m venv /opt/forklab && chown -R student: /opt/forklab
ENV PATH=/opt/forklab/bin:$PATH
USER student
WORKDIR /home/student/forklab

# Requirements first, so that editing a notebook does not reinstall them.
COPY --chown=student requirements.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt
ARG JUPYTERHUB=""
RUN if [ -n "$JUPYTERHUB" ]; then python -m pip install --no-cache-dir "jupyterhub==$JUPYTERHUB"; fi

COPY --chown=student . ./
RUN python -m pip install --no-cache-dir ./lib
# The course's lab settings (no "official Jupyter news?" question) and a student's server config: jupyter/README.md
RUN install -D -m 644 jupyter/lab-settings/overrides.d/forklab.json \
        /opt/forklab/share/jupyter/lab/settings/overrides.d/forklab.json
ENV JUPYTER_CONFIG_PATH=/home/student/forklab/jupyter/student

EXPOSE 8888
# root_dir=.: the whole course (exercises/ too) is reachable, not only the first notebook's folder.
# default_url: the URL the server prints opens the first notebook (a notebook argument would only reach
# a browser the server opens itself, and in a container there is none: the printed URL showed the launcher).
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--ServerApp.root_dir=.", \
     "--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb"]
