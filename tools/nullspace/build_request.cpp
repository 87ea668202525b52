#include "tools/nullspace/build_request.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/flag_values.hpp"
#include "tools/nullspace/terminal.hpp"

namespace fs = std::filesystem;

namespace nullspace::cli {
namespace {

std::string read_dockerfile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw usage_error("--from-dockerfile takes the Dockerfile's path; " + path +
                      " is a directory (did you mean " + (fs::path(path) / "Dockerfile").string() +
                      "?)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error("cannot read Dockerfile " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct source_values {
  std::string dockerfile_text;
  std::string registry_password;
};

void write_request(json::writer& w, const build_flags& f, const source_values& src,
                   const std::vector<build_secret>& secrets, const std::string& context_id,
                   bool redacted) {
  w.begin_object().field("name", f.name);
  if (!f.ns.empty()) w.field("namespace", f.ns);
  w.key("tags").begin_array();
  for (auto& t : f.tags) w.value(t);
  w.end_array();

  w.key("builder").begin_object();
  w.key("source").begin_object();
  if (!f.python_version.empty()) {
    w.field("type", "python_image").field("version", f.python_version);
  } else if (!f.image.empty()) {
    w.field("type", "image").field("image", f.image);
    if (!f.registry_username.empty())
      w.key("auth")
          .begin_object()
          .field("username", f.registry_username)
          .field("password", redacted ? std::string("***") : src.registry_password)
          .end_object();
  } else if (!f.dockerfile.empty()) {
    w.field("type", "dockerfile").field("content", src.dockerfile_text);
    w.field("context", context_id);
  } else {
    w.field("type", "template").field("ref", f.template_ref);
  }
  w.end_object();
  if (!f.run.empty()) {
    w.key("steps").begin_array();
    for (auto& cmd : f.run) w.begin_object().field("type", "run").field("cmd", cmd).end_object();
    w.end_array();
  }
  if (!f.runtime_env.empty()) {
    w.key("runtime_envs").begin_object();
    for (auto& kv : f.runtime_env) {
      auto [k, v] = key_value(kv, "--runtime-env");
      w.field(k, v);
    }
    w.end_object();
  }
  if (!f.start_cmd.empty()) w.field("start_cmd", f.start_cmd);
  if (!f.ready_cmd.empty())
    w.key("ready").begin_object().field("type", "command").field("cmd", f.ready_cmd).end_object();
  if (f.ready_port)
    w.key("ready").begin_object().field("type", "port").field("port", *f.ready_port).end_object();
  if (!f.ready_url.empty())
    w.key("ready").begin_object().field("type", "url").field("url", f.ready_url).end_object();
  if (!f.ready_file.empty())
    w.key("ready").begin_object().field("type", "file").field("path", f.ready_file).end_object();
  if (f.ready_timeout_ms) w.field("ready_timeout_ms", *f.ready_timeout_ms);
  w.end_object();  // builder

  if (f.cpu_count) w.field("cpu_count", *f.cpu_count);
  if (f.memory_mb) w.field("memory_mb", *f.memory_mb);
  if (f.disk_mb) w.field("disk_mb", *f.disk_mb);
  if (f.no_internet) w.field("internet_access", false);
  if (!f.backend.empty()) w.field("build_backend", f.backend);
  write_secrets(w, secrets, redacted);
  if (f.skip_cache) w.field("skip_cache", true);
  if (!f.build_args.empty()) {
    w.key("build_args").begin_object();
    for (auto& kv : f.build_args) {
      auto [k, v] = key_value(kv, "--build-arg");
      w.field(k, v);
    }
    w.end_object();
  }
  if (!f.target.empty()) w.field("target", f.target);
  w.end_object();
}

}  // namespace

prepared_build prepare_build(const build_flags& f) {
  int sources = !f.python_version.empty() + !f.image.empty() + !f.dockerfile.empty() +
                !f.template_ref.empty();
  if (sources != 1)
    throw usage_error(
        sources == 0 ? "give a source: --from-python-image, --from-image, --from-dockerfile or "
                       "--from-template"
                     : "give only one of --from-python-image, --from-image, --from-dockerfile "
                       "and --from-template");
  if ((!f.registry_username.empty() || !f.registry_password_env.empty()) && f.image.empty())
    throw usage_error("--registry-username and --registry-password-env go with --from-image");
  if ((!f.build_args.empty() || !f.target.empty()) && f.dockerfile.empty())
    throw usage_error("--build-arg and --target go with --from-dockerfile");
  if (f.registry_username.empty() != f.registry_password_env.empty())
    throw usage_error("--registry-username and --registry-password-env go together");
  if (!f.context_dir.empty() && f.dockerfile.empty())
    throw usage_error("--context goes with --from-dockerfile");
  int ready = !f.ready_cmd.empty() + !f.ready_url.empty() + !f.ready_file.empty() +
              f.ready_port.has_value();
  if (ready > 1)
    throw usage_error("give at most one of --ready-cmd, --ready-port, --ready-url, --ready-file");
  if (ready && f.start_cmd.empty())
    throw usage_error("a ready check (--ready-*) needs --start-cmd");
  for (auto& kv : f.runtime_env) key_value(kv, "--runtime-env");

  source_values src;
  prepared_build out;
  if (!f.dockerfile.empty()) {
    src.dockerfile_text = read_dockerfile(f.dockerfile);
    auto dir = f.context_dir;
    if (dir.empty()) {
      dir = fs::path(f.dockerfile).parent_path().string();
      if (dir.empty()) dir = ".";
    }
    // Said before the files are read: packing a large tree takes a while.
    out.context = tar_directory(dir, [](const context_scan& scan) {
      for (auto& line : scan_warnings(scan)) terminal::get().err_line(line);
    });
  }
  if (!f.registry_password_env.empty())
    src.registry_password =
        secret_from_env(f.registry_password_env, "the --registry-password-env password");
  auto secrets = resolve_secrets(f.secret_env, f.secret_file);
  std::string ctx = out.context ? out.context->id : "";
  json::writer w, r;
  write_request(w, f, src, secrets, ctx, false);
  write_request(r, f, src, secrets, ctx, true);
  out.payload = std::move(w).str();
  out.rendered = std::move(r).str();
  return out;
}

}  // namespace nullspace::cli
