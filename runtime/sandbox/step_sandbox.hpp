// Runs build steps in OCI containers over overlay mounts of their layer stack.
// This class does the blocking filesystem half (mounts, bundles, cgroups,
// layers); the container process itself is started by the caller through
// process_runner with run_argv(), so its output streams like any step's.
//
// Per build, under DATA:
//   work/<build>/s<step>/{upper,work,rootfs}   the step's writable layer + mount
//   work/<build>/s<step>/config.json           the bundle (rootfs = that mount)
//   work/<build>/s<step>/container.pid         written by the runtime once the step runs
//   layers/<layer id>/                         committed layers (read-only)
//   /dev/shm/nullspace-<build>-s<step>/        secrets (memory only), bound at /run/secrets
//   cache-mounts/<tenant>/…                    RUN --mount=type=cache dirs (cache_mounts.hpp)
// cgroup v1 memory: /nullspace/<build> holds each step's container cgroup, so
// that after a step its peak usage tells whether the memory limit killed it.
//
// Blocking: call from a detached actor or a plain thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/context/context_copy.hpp"
#include "runtime/sandbox/cache_mounts.hpp"
#include "runtime/sandbox/oci_config.hpp"

namespace nullspace::runtime {

struct oci_runtime {
  std::string binary;      // absolute path of runc or crun
  std::string state_root;  // --root: where the runtime keeps container state
};

// The OCI runtime for build steps, chosen as for machines (oci_choice.hpp):
// `preference` "crun", "runc" or "" (crun when it works here, else runc).
// unavailable with a clear message if none can be used.
result<oci_runtime> find_oci_runtime(const std::string& preference, const std::string& state_root);

// RUN --mount=type=bind: a copy of part of the build context or of a stage,
// made for the step and bound at `target` (read-only unless `writable`, whose
// writes go to the copy and are dropped with it, as BuildKit's rw binds).
struct bind_source {
  std::string tar_path;                   // a context archive, or
  std::vector<std::string> stage_layers;  // a stage's layers (top first)
  std::string src;                        // the path in it ("" = its root)
  std::string target;                     // absolute, in the container
  bool writable = false;
};

struct step_job {
  std::string build_id;
  size_t step = 0;
  std::vector<std::string> lowers;  // layer dirs, top first
  sandbox_spec spec;                // rootfs, cgroups_path and secrets_dir are filled in
  std::vector<std::pair<std::string, std::string>> secrets;  // id, value: memory only
  // RUN heredoc scripts (name, content): 0755 files bound read-only at
  // /dev/pipes (a tmpfs of the container), so none lands in the layer.
  std::vector<std::pair<std::string, std::string>> scripts;
  std::vector<bind_source> binds;
  // RUN --mount=type=cache: the tenant's dirs, bound at their targets (taken
  // in prepare(), waiting for a locked one; given back in finish()).
  std::string tenant;
  std::vector<cache_mount_use> caches;
};

struct prepared_step {
  std::string container_id;
  std::string bundle;
};

struct step_outcome {
  bool oom = false;  // the memory limit was reached (the kernel killed the step)
  // The runtime started the container's process (it wrote the pid file). A
  // container that never started failed in the runtime, not in the step
  // (runtime/sandbox/runtime_refusal.hpp).
  bool started = true;
  std::string layer;      // committed layer name ("" if the step wrote nothing)
  std::string layer_dir;  // its absolute path
  uint64_t bytes = 0;
};

struct copy_outcome {
  copy_summary copied;
  step_outcome layer;
  std::string content_digest = {};  // ADD <url>: "sha256:…" of the download
};

class step_sandbox {
 public:
  // `caches` (may be null: then a step with cache mounts fails) outlives this.
  // ADD <url> downloads larger than `max_download_bytes` fail their step.
  step_sandbox(std::string data_dir, oci_runtime rt, cache_mount_store* caches = nullptr,
               uint64_t max_download_bytes = uint64_t{2} << 30);

  // Takes the step's cache mounts, mounts its rootfs, writes its secrets and
  // bundle. On error nothing is left mounted or held.
  result<prepared_step> prepare(const step_job& job);

  // The process_runner argv that runs / kills / removes the container. The
  // run writes the pid file finish() looks for.
  std::vector<std::string> run_argv(const prepared_step& p) const;
  std::vector<std::string> kill_argv(const std::string& container_id) const;
  // Runs `args` inside the running container (a command ready check).
  std::vector<std::string> exec_argv(const std::string& container_id, const sandbox_spec& as,
                                     const std::vector<std::string>& args) const;

  // The host pid of the container's first process while it runs.
  std::optional<int> container_pid(const std::string& container_id) const;

  // After the container exited: removes it (only if the runtime left it: a
  // `run` that ended normally removed it itself), unmounts, drops the secrets,
  // gives its cache mounts back, and reports whether it ever started and
  // whether memory ran out. With `keep`, the upper dir becomes the layer
  // `layer_name` (renamed into layers/, not yet synced: see sync_layers);
  // otherwise it is deleted. The step's dir itself (the emptied mount point,
  // the overlay's work dir) is left for remove_step_dir() or cleanup_build():
  // removing it costs most of a millisecond, which a caller can spend while
  // the next step runs instead of before it starts.
  result<step_outcome> finish(const std::string& build_id, size_t step, bool keep,
                              const std::string& layer_name, uint64_t memory_limit);
  void remove_step_dir(const std::string& build_id, size_t step);

  // A `copy` step: no container; the files are written through the step's
  // overlay mount (so replacing image files leaves whiteouts like any step) and
  // the upper dir becomes `layer_name`. On error nothing is kept.
  result<copy_outcome> copy(const step_job& job, const copy_request& req,
                            const std::string& layer_name);

  // COPY --from=<stage>: like copy(), reading `req.src` (a path or pattern)
  // from the merged `stage_layers` (top first) instead of a build context.
  result<copy_outcome> copy_from_stage(const step_job& job,
                                       const std::vector<std::string>& stage_layers,
                                       copy_request req, const std::string& layer_name);

  // COPY <<EOF: like copy(), the source being the one file `name` holding
  // `content` (mode 0644; req.mode may override it).
  result<copy_outcome> copy_inline(const step_job& job, const std::string& name,
                                   const std::string& content, copy_request req,
                                   const std::string& layer_name);

  // ADD <url>: downloads `url` (runtime/context/url_fetch.hpp, checked against
  // `checksum` if given) as the file `name` (mode 0600 unless req.mode), then
  // copies it like copy_inline().
  result<copy_outcome> copy_url(const step_job& job, const std::string& url,
                                const std::string& checksum, const std::string& name,
                                copy_request req, const std::string& layer_name);

  // Makes every layer committed so far durable (one syncfs of the layers'
  // filesystem): steps mount their upper dirs unsynced, so a cache record may
  // name a layer only after this returned.
  result<bool> sync_layers();

  // Everything a build left: containers, mounts, secrets, cache mounts it
  // held, cgroups, work dir.
  void cleanup_build(const std::string& build_id);

  // At engine close, once no build actor is left: kills and removes every
  // container still in the runtime's state dir (steps and start commands that
  // were running, or whose kill came before the container existed), so none
  // outlives the engine, then cleans up each unfinished build as if it had
  // ended (cleanup_build: mounts, secret files, cgroups, work dir). Its record
  // stays unfinished: the next open's recovery starts its steps again, or
  // fails it when the secret values it needs are gone.
  void stop_all_builds();

  std::string layers_dir() const { return data_dir_ + "/layers"; }
  std::string container_id(const std::string& build_id, size_t step) const;

 private:
  static std::string container_prefix(const std::string& build_id);  // of its steps' ids
  // Below each controller's root: the build's cgroup, parent of its steps'.
  static std::string build_cgroup(const std::string& build_id);
  static void remove_build_cgroups(const std::string& build_id);  // the build's and its steps'
  // Mounts lowers + a fresh upper at work/<build>/s<step>/rootfs; returns that path.
  result<std::string> mount_step(const std::string& build_id, size_t step,
                                 const std::vector<std::string>& lowers);
  // Unmounts the step and keeps its upper dir as `layer_name` (if `keep` and
  // not empty); removes the step's dir unless `leave_dir`.
  result<step_outcome> commit_step(const std::string& build_id, size_t step, bool keep,
                                   const std::string& layer_name, bool leave_dir = false);
  // The end of every copy: `req` into the step's `rootfs` unless packing its
  // tar failed (`packed`), then the step committed (kept only if the copy
  // worked). The copy's summary and layer, or the first error.
  result<copy_outcome> copy_and_commit(const step_job& job, const std::string& rootfs,
                                       const copy_request& req, const result<bool>& packed,
                                       const std::string& layer_name);
  bool container_left(const std::string& id) const;         // its state dir is there
  void delete_container(const std::string& id) const;       // quietly, if left
  std::string work_dir(const std::string& build_id) const;  // DATA/work/<build>
  std::string step_dir(const std::string& build_id, size_t step) const;
  std::string secrets_dir(const std::string& build_id, size_t step) const;
  std::string data_dir_;
  oci_runtime rt_;
  cache_mount_store* caches_;
  uint64_t max_download_bytes_;
};

}  // namespace nullspace::runtime
