#include "runtime/machine/container_placement.hpp"

#include <simdjson.h>

#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::runtime {

std::string container_placement::json() const {
  json::writer w;
  w.begin_object()
      .field("runtime", runtime)
      .field("container", container)
      .field("artifact_id", artifact_id)
      .field("disk_mb", disk_mb)
      .field("internet", internet)
      .field("slot", slot)
      .field("veth", veth)
      .field("host_ip", host_ip)
      .field("guest_ip", guest_ip)
      .field("user", user)
      .field("uid", uid)
      .field("gid", gid)
      .field("workdir", workdir)
      .field("memory_mb", memory_mb)
      .field("cpu_count", cpu_count)
      .field("init_pid", static_cast<int64_t>(init_pid))
      .field("init_start", init_start)
      .key("env_names")
      .begin_array();
  for (auto& n : env_names) w.value(n);
  w.end_array().end_object();
  return std::move(w).str();
}

std::optional<container_placement> container_placement::parse(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::padded_string json(text);
  simdjson::dom::object o;
  if (parser.parse(json).get(o) != simdjson::SUCCESS) return std::nullopt;
  namespace jr = storage::jr;
  container_placement p;
  p.runtime = jr::str(o, "runtime");
  p.container = jr::str(o, "container");
  p.artifact_id = jr::str(o, "artifact_id");
  p.disk_mb = static_cast<uint32_t>(jr::u64(o, "disk_mb"));
  p.internet = jr::boolean(o, "internet");
  p.slot = jr::i64(o, "slot", -1);
  p.veth = jr::str(o, "veth");
  p.host_ip = jr::str(o, "host_ip");
  p.guest_ip = jr::str(o, "guest_ip");
  p.user = jr::str(o, "user", "root");
  p.uid = static_cast<uint32_t>(jr::u64(o, "uid"));
  p.gid = static_cast<uint32_t>(jr::u64(o, "gid"));
  p.workdir = jr::str(o, "workdir", "/");
  p.memory_mb = static_cast<uint32_t>(jr::u64(o, "memory_mb"));
  p.cpu_count = static_cast<uint32_t>(jr::u64(o, "cpu_count"));
  p.init_pid = static_cast<pid_t>(jr::i64(o, "init_pid"));
  p.init_start = jr::u64(o, "init_start");
  p.env_names = jr::strings(o, "env_names");
  return p;
}

}  // namespace nullspace::runtime
