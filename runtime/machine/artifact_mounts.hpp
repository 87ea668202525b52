// The read-only mounts of artifact images that machines use as their lower
// layer: one mount per artifact, shared by all its machines, counted here and
// unmounted when its last machine is destroyed. The count starts from the
// machines found on disk (recount()), so a restarted daemon neither unmounts
// an image its adopted machines still use nor keeps one nothing uses.
//
// Thread-safe. Blocking (mounts): call from a detached actor or a plain thread.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "nullspace/error.hpp"
#include "runtime/machine/machine_layout.hpp"

namespace nullspace::runtime {

class artifact_mounts {
 public:
  explicit artifact_mounts(const machine_layout& layout) : layout_(layout) {}

  // A machine's reference to the artifact; mounts `image` on first use.
  // Returns the mount point.
  result<std::string> acquire(const std::string& artifact_id, const std::string& image);
  // Drops a reference; the last one unmounts.
  void release(const std::string& artifact_id);
  // Sets the references from what is on disk: one per machine that names the
  // artifact. Unmounts artifact mounts that no machine names.
  void recount(const std::map<std::string, int>& machines_per_artifact);

  int references(const std::string& artifact_id);

 private:
  void unmount_locked(const std::string& artifact_id);
  const machine_layout& layout_;
  std::mutex mu_;
  std::map<std::string, int> refs_;
};

}  // namespace nullspace::runtime
