#include "runtime/sandbox/step_sandbox.hpp"

#include <simdjson.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/context/context_copy.hpp"
#include "runtime/context/tree_tar.hpp"
#include "runtime/context/url_fetch.hpp"
#include "runtime/process/command.hpp"
#include "runtime/sandbox/oci_choice.hpp"
#include "runtime/sandbox/overlay.hpp"
#include "runtime/sandbox/secret_files.hpp"
#include "storage/common/file_text.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

const std::string cgroup_v1_memory = "/sys/fs/cgroup/memory";

uint64_t read_u64(const std::string& path) {
  std::ifstream in(path);
  uint64_t v = 0;
  in >> v;
  return v;
}

bool is_empty_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_empty(dir, ec) || ec;
}

// The mount targets missing from the image, each with its topmost missing
// ancestor ("target\ttop" lines): what the runtime creates to mount on.
std::string missing_mount_points(const std::string& rootfs,
                                 const std::vector<std::string>& targets) {
  std::string out;
  for (auto& t : targets) {
    std::string prefix;
    size_t pos = 0;
    while (pos < t.size()) {
      auto slash = t.find('/', pos + 1);
      prefix = t.substr(0, slash);
      std::error_code ec;
      if (!fs::exists(fs::symlink_status(rootfs + prefix, ec))) {
        out += t + "\t" + prefix + "\n";
        break;
      }
      if (slash == std::string::npos) break;
      pos = slash;
    }
  }
  return out;
}

// Removes from `upper` the empty mount points recorded by missing_mount_points.
void remove_mount_points(const std::string& upper, const std::string& recorded) {
  size_t pos = 0;
  while (pos < recorded.size()) {
    auto nl = recorded.find('\n', pos);
    auto line = recorded.substr(pos, nl - pos);
    pos = nl == std::string::npos ? recorded.size() : nl + 1;
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    auto target = line.substr(0, tab), top = line.substr(tab + 1);
    struct stat st {};
    auto path = upper + target;
    if (::lstat(path.c_str(), &st) == 0) {
      if (S_ISREG(st.st_mode) && st.st_size == 0)
        ::unlink(path.c_str());
      else if (S_ISDIR(st.st_mode))
        ::rmdir(path.c_str());  // only if empty
    }
    // Then the parents the runtime created, as long as nothing else is in them.
    for (auto dir = target.substr(0, target.rfind('/')); dir.size() >= top.size() && !dir.empty();
         dir = dir.substr(0, dir.rfind('/')))
      if (::rmdir((upper + dir).c_str()) != 0) break;
  }
}

}  // namespace

namespace {

// The part of a stage (its layers, top first) that req.src names, packed into
// `tar_path` (req then reads it); `scratch` is where several layers are merged.
result<bool> pack_stage(const std::vector<std::string>& stage_layers, copy_request& req,
                        const std::string& scratch, const std::string& tar_path) {
  // The stage's files as it sees them: one layer as it is, several merged.
  auto root = stage_layers.front();
  result<bool> packed = true;
  if (stage_layers.size() > 1) {
    root = scratch;
    std::error_code ec;
    fs::create_directories(root, ec);
    packed = mount_overlay(stage_layers, "", "", root);
  }
  // Only the part of the stage the source names (up to its first pattern).
  auto first = req.src.find_first_not_of('/');
  auto src = first == std::string::npos ? std::string() : req.src.substr(first);
  auto fixed = src;
  if (auto glob = src.find_first_of("*?["); glob != std::string::npos) {
    auto slash = src.rfind('/', glob);
    fixed = slash == std::string::npos ? "" : src.substr(0, slash);
  }
  while (fixed.ends_with('/')) fixed.pop_back();
  req.src = src;
  req.tar_path = tar_path;
  req.use_dockerignore = false;
  if (packed) packed = tar_tree(root, fixed == "." ? "" : fixed, req.tar_path);
  if (stage_layers.size() > 1) unmount_quietly(root);
  return packed;
}

// A bind mount's copy under `dir`; the path to bind (a dir, or the one file).
result<std::string> materialize_bind(const bind_source& b, const std::string& dir) {
  std::error_code ec;
  auto root = dir + "/root";
  fs::create_directories(root, ec);
  copy_request req{b.tar_path, b.src, "/", 0, 0};
  if (!b.stage_layers.empty()) {
    auto packed = pack_stage(b.stage_layers, req, dir + "/stage", dir + "/stage.tar");
    if (!packed) return packed.error();
  }
  auto copied = copy_from_context(root, req);
  if (!copied) return copied.error();
  auto name = fs::path(b.src).filename().string();
  if (copied->dirs == 0 && copied->files == 1 && !name.empty() &&
      fs::is_regular_file(root + "/" + name, ec))
    return root + "/" + name;
  return root;
}

}  // namespace

result<oci_runtime> find_oci_runtime(const std::string& preference, const std::string& state_root) {
  auto binary = choose_oci_runtime(preference);
  if (!binary)
    return make_error(binary.error().code,
                      binary.error().message + " (or run with --isolation host)");
  return oci_runtime{std::move(*binary), state_root};
}

step_sandbox::step_sandbox(std::string data_dir, oci_runtime rt, cache_mount_store* caches,
                           uint64_t max_download_bytes)
    : data_dir_(std::move(data_dir)),
      rt_(std::move(rt)),
      caches_(caches),
      max_download_bytes_(max_download_bytes) {}

std::string step_sandbox::work_dir(const std::string& build_id) const {
  return data_dir_ + "/work/" + build_id;
}

std::string step_sandbox::step_dir(const std::string& build_id, size_t step) const {
  return work_dir(build_id) + "/s" + std::to_string(step);
}

std::string step_sandbox::secrets_dir(const std::string& build_id, size_t step) const {
  return "/dev/shm/nullspace-" + build_id + "-s" + std::to_string(step);
}

std::string step_sandbox::container_prefix(const std::string& build_id) {
  return "ns-" + build_id + "-";
}

std::string step_sandbox::container_id(const std::string& build_id, size_t step) const {
  return container_prefix(build_id) + "s" + std::to_string(step);
}

bool step_sandbox::container_left(const std::string& id) const {
  std::error_code ec;
  return fs::exists(rt_.state_root + "/" + id, ec) || ec;
}

void step_sandbox::delete_container(const std::string& id) const {
  // A foreground `run` removes its container when the process exits, so its
  // state dir (runc and crun keep one per container under --root) is only left
  // when the runtime itself was killed or the daemon stopped mid-step: no
  // second runtime process for a step that simply ended.
  if (!container_left(id)) return;
  // Quietly: a container that is already gone is what we want.
  (void)run_command({rt_.binary, "--root", rt_.state_root, "delete", "--force", id});
}

void step_sandbox::stop_all_builds() {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(rt_.state_root, ec))
    if (e.is_directory(ec)) delete_container(e.path().filename().string());
  // The builds that were running (work/<build> is still there): nothing runs
  // for them now, and a recovery starts their steps again from scratch.
  ec.clear();
  std::vector<std::string> unfinished;
  for (fs::directory_iterator it(data_dir_ + "/work", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with("tb_"))
      unfinished.push_back(it->path().filename().string());
  for (auto& id : unfinished) cleanup_build(id);
}

std::string step_sandbox::build_cgroup(const std::string& build_id) {
  return "/nullspace/" + build_id;
}

result<std::string> step_sandbox::mount_step(const std::string& build_id, size_t step,
                                             const std::vector<std::string>& lowers) {
  auto dir = step_dir(build_id, step);
  remove_tree(dir);  // a previous attempt (crash, restart) may have left a mount
  std::error_code ec;
  for (auto sub : {"/upper", "/work", "/rootfs"}) fs::create_directories(dir + sub, ec);
  if (ec) return make_error(errc::internal, "cannot create " + dir + ": " + ec.message());
  // Unsynced: a kept upper dir is made durable with the build's other layers
  // (sync_layers) before any cache record names it.
  if (auto m = mount_overlay(lowers, dir + "/upper", dir + "/work", dir + "/rootfs", true); !m)
    return m.error();
  return dir + "/rootfs";
}

result<prepared_step> step_sandbox::prepare(const step_job& job) {
  auto dir = step_dir(job.build_id, job.step);
  auto id = container_id(job.build_id, job.step);
  delete_container(id);  // left by a previous attempt?
  std::error_code ec;
  fs::create_directories(rt_.state_root, ec);
  if (ec)
    return make_error(errc::internal, "cannot create " + rt_.state_root + ": " + ec.message());
  sandbox_spec spec = job.spec;
  // Cache mounts first: this may wait for a locked one, with nothing mounted yet.
  if (!job.caches.empty()) {
    if (!caches_) return make_error(errc::internal, "cache mounts are not set up on this engine");
    auto dirs = caches_->acquire(id, job.build_id, job.tenant, job.caches);
    if (!dirs) return dirs.error();
    for (size_t i = 0; i < job.caches.size(); ++i)
      (job.caches[i].readonly ? spec.readonly_binds : spec.writable_binds)
          .emplace_back((*dirs)[i], job.caches[i].target);
  }
  if (auto m = mount_step(job.build_id, job.step, job.lowers); !m) {
    if (caches_) caches_->release(id);
    return m.error();
  }

  auto fail = [&](std::string message) -> result<prepared_step> {
    unmount_quietly(dir + "/rootfs");
    fs::remove_all(secrets_dir(job.build_id, job.step), ec);
    if (caches_) caches_->release(id);
    return make_error(errc::internal, std::move(message));
  };

  spec.rootfs = dir + "/rootfs";
  spec.cgroups_path = build_cgroup(job.build_id) + "/s" + std::to_string(job.step);
  if (!job.secrets.empty()) {
    spec.secrets_dir = secrets_dir(job.build_id, job.step);
    if (auto problem = write_secret_files(spec.secrets_dir, job.secrets); !problem.empty())
      return fail(problem);
  }
  if (!job.scripts.empty()) {
    auto pipes = dir + "/pipes";
    fs::create_directories(pipes, ec);
    for (auto& [name, content] : job.scripts) {
      auto path = pipes + "/" + name;
      if (!write_text_file(path, content)) return fail("cannot write the heredoc script " + name);
      fs::permissions(path, fs::perms(0755), ec);
    }
    spec.readonly_binds.emplace_back(pipes, "/dev/pipes");
  }
  for (size_t i = 0; i < job.binds.size(); ++i) {
    auto& b = job.binds[i];
    auto source = materialize_bind(b, dir + "/bind" + std::to_string(i));
    if (!source) {
      unmount_quietly(dir + "/rootfs");
      fs::remove_all(secrets_dir(job.build_id, job.step), ec);
      if (caches_) caches_->release(id);
      return make_error(source.error().code,
                        "RUN --mount=type=bind,target=" + b.target + ": " + source.error().message);
    }
    (b.writable ? spec.writable_binds : spec.readonly_binds).emplace_back(*source, b.target);
  }
  // The working dir exists before the step starts (as Docker's WORKDIR does).
  fs::create_directories(spec.rootfs + "/" + spec.cwd, ec);
  if (!write_text_file(dir + "/mountpoints",
                       missing_mount_points(spec.rootfs, spec.mount_targets())))
    return fail("cannot write the step's mount point list");
  if (!write_text_file(dir + "/config.json", oci_config_json(spec)))
    return fail("cannot write the bundle's config.json");

  // The build's memory cgroup (v1): reset its peak so finish() can tell an OOM.
  if (fs::is_directory(cgroup_v1_memory)) {
    auto parent = cgroup_v1_memory + build_cgroup(job.build_id);
    fs::create_directories(parent, ec);
    write_text_file(parent + "/memory.max_usage_in_bytes", "0");
  }
  return prepared_step{id, dir};
}

namespace {
std::string pid_file(const std::string& bundle) {
  return bundle + "/container.pid";
}
}  // namespace

std::vector<std::string> step_sandbox::run_argv(const prepared_step& p) const {
  return {rt_.binary, "--root",     rt_.state_root,     "run",         "--bundle",
          p.bundle,   "--pid-file", pid_file(p.bundle), p.container_id};
}

std::vector<std::string> step_sandbox::exec_argv(const std::string& container_id,
                                                 const sandbox_spec& as,
                                                 const std::vector<std::string>& args) const {
  std::vector<std::string> argv{
      rt_.binary, "--root", rt_.state_root,
      "exec",     "--user", std::to_string(as.uid) + ":" + std::to_string(as.gid),
      "--cwd",    as.cwd};
  for (auto& e : as.env) argv.insert(argv.end(), {"--env", e});
  argv.push_back(container_id);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::optional<int> step_sandbox::container_pid(const std::string& container_id) const {
  auto r = run_command({rt_.binary, "--root", rt_.state_root, "state", container_id});
  if (!r || r->exit_status != 0) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::padded_string json(r->output);
  simdjson::dom::object o;
  int64_t pid = 0;
  std::string_view status;
  if (parser.parse(json).get(o) != simdjson::SUCCESS || o["pid"].get(pid) != simdjson::SUCCESS ||
      o["status"].get(status) != simdjson::SUCCESS || status != "running" || pid <= 0)
    return std::nullopt;
  return static_cast<int>(pid);
}

std::vector<std::string> step_sandbox::kill_argv(const std::string& container_id) const {
  return {rt_.binary, "--root", rt_.state_root, "kill", container_id, "KILL"};
}

result<step_outcome> step_sandbox::finish(const std::string& build_id, size_t step, bool keep,
                                          const std::string& layer_name, uint64_t memory_limit) {
  delete_container(container_id(build_id, step));
  if (caches_) caches_->release(container_id(build_id, step));
  std::error_code ec;
  bool started = fs::exists(pid_file(step_dir(build_id, step)), ec);
  fs::remove_all(secrets_dir(build_id, step), ec);
  bool oom = false;
  if (memory_limit > 0 && fs::is_directory(cgroup_v1_memory)) {
    auto peak = read_u64(cgroup_v1_memory + build_cgroup(build_id) + "/memory.max_usage_in_bytes");
    oom = peak + (256u << 10) >= memory_limit;
  }
  auto out = commit_step(build_id, step, keep, layer_name, true);
  if (out) {
    out->oom = oom;
    out->started = started;
  }
  return out;
}

void step_sandbox::remove_step_dir(const std::string& build_id, size_t step) {
  remove_tree(step_dir(build_id, step));
}

result<step_outcome> step_sandbox::commit_step(const std::string& build_id, size_t step, bool keep,
                                               const std::string& layer_name, bool leave_dir) {
  auto dir = step_dir(build_id, step);
  unmount_quietly(dir + "/rootfs");
  remove_mount_points(dir + "/upper", read_text_file(dir + "/mountpoints"));
  std::error_code ec;
  step_outcome out;
  if (keep && !is_empty_dir(dir + "/upper")) {
    fs::create_directories(layers_dir(), ec);
    out.layer = layer_name;
    out.layer_dir = layers_dir() + "/" + layer_name;
    out.bytes = tree_bytes(dir + "/upper");
    fs::remove_all(out.layer_dir, ec);
    fs::rename(dir + "/upper", out.layer_dir, ec);
    if (ec) {
      remove_tree(dir);
      return make_error(errc::internal, "cannot store the layer of step " + std::to_string(step) +
                                            ": " + ec.message());
    }
  }
  if (!leave_dir) remove_tree(dir);
  return out;
}

result<copy_outcome> step_sandbox::copy(const step_job& job, const copy_request& req,
                                        const std::string& layer_name) {
  auto rootfs = mount_step(job.build_id, job.step, job.lowers);
  if (!rootfs) return rootfs.error();
  return copy_and_commit(job, *rootfs, req, true, layer_name);
}

result<copy_outcome> step_sandbox::copy_and_commit(const step_job& job, const std::string& rootfs,
                                                   const copy_request& req,
                                                   const result<bool>& packed,
                                                   const std::string& layer_name) {
  auto copied = packed ? copy_from_context(rootfs, req) : result<copy_summary>(packed.error());
  auto committed = commit_step(job.build_id, job.step, copied.ok(), layer_name);
  if (!copied) return copied.error();
  if (!committed) return committed.error();
  return copy_outcome{std::move(copied.value()), std::move(committed.value())};
}

result<copy_outcome> step_sandbox::copy_from_stage(const step_job& job,
                                                   const std::vector<std::string>& stage_layers,
                                                   copy_request req,
                                                   const std::string& layer_name) {
  if (stage_layers.empty())
    return make_error(errc::invalid_argument, "the stage it copies from has no files");
  auto rootfs = mount_step(job.build_id, job.step, job.lowers);
  if (!rootfs) return rootfs.error();
  auto dir = step_dir(job.build_id, job.step);
  auto packed = pack_stage(stage_layers, req, dir + "/stage", dir + "/stage.tar");
  return copy_and_commit(job, *rootfs, req, packed, layer_name);
}

result<copy_outcome> step_sandbox::copy_inline(const step_job& job, const std::string& name,
                                               const std::string& content, copy_request req,
                                               const std::string& layer_name) {
  auto rootfs = mount_step(job.build_id, job.step, job.lowers);
  if (!rootfs) return rootfs.error();
  auto dir = step_dir(job.build_id, job.step);
  auto files = dir + "/inline";
  std::error_code ec;
  fs::create_directories(files, ec);
  result<bool> packed = true;
  if (!write_text_file(files + "/" + name, content))
    packed = make_error(errc::internal, "cannot write the heredoc file " + name);
  else
    fs::permissions(files + "/" + name, fs::perms(0644), ec);
  req.src = name;
  req.tar_path = dir + "/inline.tar";
  req.use_dockerignore = false;
  if (packed) packed = tar_tree(files, name, req.tar_path);
  return copy_and_commit(job, *rootfs, req, packed, layer_name);
}

result<copy_outcome> step_sandbox::copy_url(const step_job& job, const std::string& url,
                                            const std::string& checksum, const std::string& name,
                                            copy_request req, const std::string& layer_name) {
  auto rootfs = mount_step(job.build_id, job.step, job.lowers);
  if (!rootfs) return rootfs.error();
  auto dir = step_dir(job.build_id, job.step);
  auto files = dir + "/download";
  std::error_code ec;
  fs::create_directories(files, ec);
  auto fetched = fetch_url(url, files + "/" + name, checksum, max_download_bytes_);
  if (!fetched) {
    (void)commit_step(job.build_id, job.step, false, layer_name);  // unmounts, removes
    return fetched.error();
  }
  req.src = name;
  req.tar_path = dir + "/download.tar";
  req.use_dockerignore = false;
  req.extract = false;  // a download is never unpacked (as in Docker)
  auto copied = copy_and_commit(job, *rootfs, req, tar_tree(files, name, req.tar_path), layer_name);
  if (copied) copied->content_digest = fetched->digest;
  return copied;
}

result<bool> step_sandbox::sync_layers() {
  std::error_code ec;
  fs::create_directories(layers_dir(), ec);
  return sync_filesystem_of(layers_dir());
}

void step_sandbox::cleanup_build(const std::string& build_id) {
  auto work = work_dir(build_id);
  std::error_code ec;
  for (fs::directory_iterator it(work, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();  // s<step>
    if (name.size() > 1 && name[0] == 's') delete_container(container_prefix(build_id) + name);
  }
  if (caches_) caches_->release_build(build_id);  // containers gone: nothing uses them
  remove_tree(work);
  for (fs::directory_iterator it("/dev/shm", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with("nullspace-" + build_id + "-"))
      fs::remove_all(it->path(), ec);
  remove_build_cgroups(build_id);
}

void step_sandbox::remove_build_cgroups(const std::string& build_id) {
  // In every v1 controller, children (the steps') first. A cgroup with a
  // process in it stays (rmdir refuses).
  std::error_code ec;
  for (fs::directory_iterator it("/sys/fs/cgroup", ec), end; !ec && it != end; it.increment(ec)) {
    auto b = it->path().string() + build_cgroup(build_id);
    std::error_code e2;
    for (fs::directory_iterator c(b, e2), cend; !e2 && c != cend; c.increment(e2))
      if (c->is_directory()) ::rmdir(c->path().c_str());
    ::rmdir(b.c_str());
  }
}

}  // namespace nullspace::runtime
