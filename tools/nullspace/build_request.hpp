// `nullspace template build`'s flags as a build request (POST /v1/builds):
// the source, steps and options, with every file and environment variable
// read here, and the same payload with secret values replaced by "***".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/nullspace/build_secrets.hpp"
#include "tools/nullspace/context_tar.hpp"

namespace nullspace::cli {

struct build_flags {
  // The source: exactly one of these.
  std::string python_version;  // --from-python-image
  std::string image;           // --from-image
  std::string dockerfile;      // --from-dockerfile (a path)
  std::string template_ref;    // --from-template
  std::string registry_username, registry_password_env;
  std::string context_dir;  // --context (default: the Dockerfile's directory)

  std::string name, ns;
  std::vector<std::string> tags;
  std::optional<int64_t> cpu_count, memory_mb, disk_mb;
  bool no_internet = false;
  std::string backend;  // "", native, buildkit
  std::vector<std::string> secret_env, secret_file;
  bool skip_cache = false;
  std::vector<std::string> build_args;  // --build-arg K=V (Dockerfile ARGs)
  std::string target;                   // --target STAGE

  // Conveniences: run steps, start command and its ready check.
  std::vector<std::string> run;
  std::vector<std::string> runtime_env;  // K=V
  std::string start_cmd;
  std::string ready_cmd, ready_url, ready_file;
  std::optional<int64_t> ready_port, ready_timeout_ms;
};

struct prepared_build {
  std::string payload;                     // sent to the server
  std::string rendered;                    // shown: the payload with every secret value "***"
  std::optional<context_archive> context;  // a Dockerfile's directory, to upload first
};

// Checks the flags that belong together (usage errors, exit 2), reads the
// Dockerfile, its context and every secret. The context id in the payload is
// the one the upload will produce (content-addressed), so rendering and dry
// runs need no upload.
prepared_build prepare_build(const build_flags& f);

}  // namespace nullspace::cli
