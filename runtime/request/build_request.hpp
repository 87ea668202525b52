// The normalized intermediate representation (IR) of a build request.
// The JSON request of API.md ("Build request") is parsed and validated into this
// form by request_parser; plan.hpp turns it into steps with cache keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nullspace/options.hpp"

namespace nullspace::runtime {

using env_list = std::vector<std::pair<std::string, std::string>>;  // keeps request order

enum class source_type { python_image, image, dockerfile, template_ref };

struct registry_auth {
  std::string username;
  std::string password;  // a secret: never stored, logged or hashed
  bool operator==(const registry_auth&) const = default;
};

struct build_source {
  source_type type = source_type::python_image;
  std::string version;                // python_image
  std::string image;                  // image
  std::optional<registry_auth> auth;  // image
  std::string dockerfile;             // dockerfile: content
  std::string context;                // dockerfile: bc_… build context id, may be empty
  std::string ref;                    // template_ref
  bool operator==(const build_source&) const = default;
};

enum class step_type {
  apt_install,
  pip_install,
  npm_install,
  run,
  copy,
  git_clone,
  env,
  workdir,
  user,
  from  // begins a stage (Dockerfile FROM); never in a request's own steps
};

// A secret a step sees as a file (RUN --mount=type=secret of a Dockerfile).
struct secret_mount {
  std::string id;
  std::string target;    // absolute path in the container
  bool required = true;  // false: a secret not supplied is simply absent
  bool operator==(const secret_mount&) const = default;
};

// A read-only view a Dockerfile RUN step gets (RUN --mount=type=bind): part
// of the build context or of an earlier stage.
struct bind_mount {
  std::string source;       // path in the context or stage ("" = its root)
  std::string target;       // absolute path in the container
  std::string context;      // bc_… when it reads the build context
  int32_t from_stage = -1;  // the stage it reads, else -1
  bool writable = false;    // rw: writes allowed, and dropped after the step
  std::string image;        // the image it reads (from= no stage: pulled like COPY --from)
  bool operator==(const bind_mount&) const = default;
};

// A dir kept between the tenant's builds (RUN --mount=type=cache), bound
// read-write at `target` (runtime/sandbox/cache_mounts.hpp).
struct cache_mount {
  std::string id;                  // the key: the id given, else the target
  std::string target;              // absolute path in the container
  std::string sharing = "shared";  // shared | locked | private
  bool readonly = false;
  uint32_t mode = 0755, uid = 0, gid = 0;  // of the dir when it is made
  bool operator==(const cache_mount&) const = default;
};

struct build_step {
  step_type type = step_type::run;
  std::vector<std::string> packages;  // apt/pip/npm_install
  bool global = false;                // npm_install
  std::string cmd;                    // run
  std::vector<std::string> secrets;   // run: secret ids made available to the step
  std::string src, dest, context;     // copy (dest also git_clone)
  std::string url, ref;               // git_clone (url also a Dockerfile ADD <url>'s copy)
  env_list envs;                      // env
  std::string path;                   // workdir
  std::string user;                   // user

  // Only steps lowered from a Dockerfile (runtime/dockerfile/dockerfile.hpp) use these.
  std::vector<std::string> argv;            // run: exec form, or SHELL + command
  std::vector<secret_mount> secret_mounts;  // run: secrets at their targets
  std::vector<std::string> tmpfs;           // run: tmpfs mount targets (not in the layer)
  std::vector<cache_mount> caches;          // run: --mount=type=cache (not in the layer)
  std::vector<bind_mount> binds;            // run: --mount=type=bind
  bool network_none = false;                // run: --network=none
  env_list args;                            // run: ARG values the command sees (not kept)
  std::string chown;                        // copy: owner ("" = the current user)
  std::string chmod;  // copy: --chmod, octal or symbolic (file_mode.hpp; "" = the source's modes)
  std::string checksum;  // copy: ADD <url> --checksum ("sha256:<hex>")
  bool extract = false;  // copy: ADD: a local tar archive is unpacked
  // run: heredoc scripts (name, content) bound read-only at /dev/pipes/<name>;
  // copy: the one heredoc file (name = src) it writes instead of reading a context.
  env_list inline_files;
  std::string image;        // from: base image reference ("" = scratch); copy: --from=<image>
  std::string stage_name;   // from: the AS name, if any
  int32_t stage = -1;       // from: ordinal of the stage it begins
  int32_t from_stage = -1;  // from: stage it builds on; copy: stage it reads
  bool image_env = false;   // env: values hold ${NAME} (the env so far) and $$ (a '$')
  bool operator==(const build_step&) const = default;
};

enum class ready_type { none, port, url, file, command };

struct ready_check {
  ready_type type = ready_type::none;
  uint32_t port = 0;
  std::string url, path, cmd;
  // A Dockerfile HEALTHCHECK's options with Docker's defaults filled in (0 =
  // none: builder.ready): each command probe is killed at timeout_ms, and
  // `retries` counted failures fail the check (runtime/sandbox/probe_tally.hpp).
  // Probes run every 250 ms like any ready check's.
  uint32_t interval_ms = 0, timeout_ms = 0, start_period_ms = 0, retries = 0;
  bool operator==(const ready_check&) const = default;
};

enum class build_backend { native, buildkit };

struct build_secret {
  std::string id;
  std::string value;   // a secret: lives only in memory
  std::string source;  // "value" | "env" | "file": a client-side hint
  bool operator==(const build_secret&) const = default;
};

struct build_request {
  std::string name;
  std::string namespace_name;  // empty = the tenant's default namespace
  std::vector<std::string> tags;

  build_source source;
  std::vector<build_step> steps;
  env_list runtime_envs;
  std::string start_cmd;
  ready_check ready;
  uint32_t ready_timeout_ms = 60000;

  uint32_t cpu_count = 2;
  uint32_t memory_mb = 1024;
  uint32_t disk_mb = 0;  // 0 = used size + default headroom
  bool internet_access = true;
  build_backend backend = build_backend::native;
  std::vector<build_secret> secrets;
  bool skip_cache = false;
  // Dockerfile sources only: ARG values (docker build --build-arg; unlike
  // secrets, stored in the definition and part of cache keys) and the stage
  // to build up to (--target).
  env_list build_args;
  std::string target;
  bool operator==(const build_request&) const = default;
};

// Requests are validated against the public limits (include/nullspace/options.hpp).
using nullspace::platform_limits;

const char* to_string(source_type t);
const char* to_string(step_type t);
const char* to_string(ready_type t);
const char* to_string(build_backend b);

// Canonical JSON of one step: fixed key order, only the fields its type uses, secret
// ids but never values. The sanitized definition embeds it and the plan hashes it.
std::string canonical_step_json(const build_step& step);

// {"type": …} plus the one field its type uses (port, url, path or cmd); for a
// set check (not ready_type::none). The sanitized definition and the template
// config both embed it.
std::string ready_check_json(const ready_check& check);

// `url` with the user:password part (https://user:token@host/…) replaced by ***.
std::string url_for_messages(std::string_view url);

// The file name a download of `url` gets in a destination directory (ADD
// <url> <dir>/): the last segment of its path, without query or fragment; ""
// if it has none.
std::string url_file_name(std::string_view url);

}  // namespace nullspace::runtime
