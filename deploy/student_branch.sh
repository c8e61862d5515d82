#!/usr/bin/env bash
# Publish the course for students: this repository's HEAD without solutions/, committed to a separate
# repository whose history never held them (a branch of this repository would carry the solutions in
# its past commits). Run it again whenever the course changes: it adds one commit, so nbgitpuller
# merges the change into every student's copy without touching their edits.
#
#   deploy/student_branch.sh /srv/forklab-students [BRANCH]      (BRANCH defaults to main)
#   git -C /srv/forklab-students push git@github.com:ORG/forklab-students.git main
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?usage: deploy/student_branch.sh DEST_REPOSITORY [BRANCH]}
branch=${2:-main}
case "$(realpath -m "$dest")/" in "$root"/*) echo "$dest is inside the instructors' repository" >&2; exit 2;; esac
id=(-c user.name="${GIT_AUTHOR_NAME:-forklab}" -c user.email="${GIT_AUTHOR_EMAIL:-forklab@localhost}")

[ -d "$dest/.git" ] || git init -q "$dest"
if git -C "$dest" rev-parse -q --verify "refs/heads/$branch" >/dev/null; then
    git -C "$dest" checkout -q "$branch"
else
    git -C "$dest" checkout -q --orphan "$branch"
fi
git -C "$dest" rm -r -q --ignore-unmatch -- . >/dev/null
git -C "$root" archive --format=tar HEAD -- . ':(exclude)solutions' | tar -C "$dest" -xf -
git -C "$dest" add -A
if git -C "$dest" diff --cached --quiet 2>/dev/null && git -C "$dest" rev-parse -q --verify HEAD >/dev/null; then
    echo "$dest ($branch) is up to date"
else
    git "${id[@]}" -C "$dest" commit -q -m "forklab course for students (from $(git -C "$root" rev-parse --short HEAD))"
    echo "$dest ($branch): $(git -C "$dest" log -1 --format='%h %s')"
fi
if [ -e "$dest/solutions" ]; then echo "solutions/ reached $dest: refusing" >&2; exit 1; fi
