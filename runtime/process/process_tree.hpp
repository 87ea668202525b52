// Killing a process tree: what a command timeout does to a command run by the
// OCI runtime's `exec` (the runtime process is the parent of the command).
#pragma once

#include <sys/types.h>

#include <vector>

namespace nullspace::runtime {

// The direct children of `pid` (from /proc/<pid>/task/*/children).
std::vector<pid_t> children_of(pid_t pid);

// SIGKILLs every descendant of `parent`. The whole tree is stopped first,
// walking down until a pass finds no new process, so none can fork, or be
// orphaned out of the tree, between the walk and the kill. `parent` is then
// continued, to reap the command and report how it ended, unless it had no
// descendant yet: then it is killed too (it can no longer start one).
// A process that left the tree before (a daemon that double-forked) is not
// found. The caller makes sure `parent` is not reaped yet (its pid cannot
// have been reused).
void kill_descendants(pid_t parent);

}  // namespace nullspace::runtime
