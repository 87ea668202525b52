// Files in a machine and connections to its ports, through the driver on the
// blocking pool (one job of the machine at a time, like its other driver calls).
#include <algorithm>

#include "actors/machine/machine_internal.hpp"

namespace nullspace::actors::machine_detail {
namespace {

std::string type_name(runtime::file_entry::kind k) {
  switch (k) {
    case runtime::file_entry::kind::file:
      return "file";
    case runtime::file_entry::kind::dir:
      return "dir";
    case runtime::file_entry::kind::symlink:
      return "symlink";
    case runtime::file_entry::kind::other:
      break;
  }
  return "other";
}

file_info info_of(const runtime::file_entry& e) {
  return file_info{e.name, type_name(e.type), e.size, e.mode, e.uid, e.gid, e.mtime_ms};
}

std::optional<error> check_path(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return make_error(errc::invalid_argument, "path must be absolute (inside the machine)", "path");
  if (path.size() > 4096 || path.find('\0') != std::string::npos)
    return make_error(errc::invalid_argument, "path is not a usable path", "path");
  return std::nullopt;
}

}  // namespace

void file_operation(machine_ptr self, file_job& job, caf::typed_response_promise<file_reply> rp) {
  auto& st = self->state;
  // Files of a paused machine are still readable and writable: its processes
  // are frozen, its filesystem is not. A port needs a running machine.
  if (auto e = usable(st, job.what != file_job::connect)) {
    rp.deliver(file_reply::failed(*e));
    return;
  }
  if (job.what != file_job::connect)
    if (auto e = check_path(job.path)) {
      rp.deliver(file_reply::failed(*e));
      return;
    }
  auto* driver = st.ctx->machines;
  auto max = st.ctx->config.machines.max_file_bytes;
  blocking(
      self,
      [driver, id = st.rec.id, job = std::move(job), max]() mutable -> file_reply {
        file_reply out;
        switch (job.what) {
          case file_job::read: {
            auto r = driver->read_file(id, job.path, max);
            if (!r) return file_reply::failed(r.error());
            out.data = std::move(r.value());
            return out;
          }
          case file_job::write: {
            runtime::file_write w;
            w.path = job.path;
            w.data = std::move(job.data);
            w.mode = job.options.mode;
            w.uid = job.options.uid;
            w.gid = job.options.gid;
            auto r = driver->write_file(id, w);
            if (!r) return file_reply::failed(r.error());
            out.info = info_of(*r);
            return out;
          }
          case file_job::list: {
            auto r = driver->list_dir(id, job.path);
            if (!r) return file_reply::failed(r.error());
            for (auto& e : *r) out.entries.push_back(info_of(e));
            std::sort(out.entries.begin(), out.entries.end(),
                      [](auto& a, auto& b) { return a.name < b.name; });
            return out;
          }
          case file_job::remove: {
            auto r = driver->remove_path(id, job.path, job.recursive);
            if (!r) return file_reply::failed(r.error());
            return out;
          }
          case file_job::connect: {
            auto r = driver->connect_port(id, job.port);
            if (!r) return file_reply::failed(r.error());
            out.fd = *r;
            return out;
          }
        }
        return out;
      },
      [rp](file_reply r) mutable { rp.deliver(std::move(r)); });
}

}  // namespace nullspace::actors::machine_detail
