// Request-time secrets (--build-secret-env id=ENV, --build-secret-file
// id=PATH): read on this machine, registered with the terminal so that no
// output can show them, and written into requests as build_secrets.
#pragma once

#include <string>
#include <vector>

#include "storage/common/json_writer.hpp"

namespace nullspace::cli {

struct build_secret {
  std::string id;
  std::string source;  // "env" or "file"
  std::string value;
};

// Reads every value; a malformed flag, an unset variable or an unreadable
// file is a usage error (exit 2) naming the id, never showing a value.
std::vector<build_secret> resolve_secrets(const std::vector<std::string>& env_flags,
                                          const std::vector<std::string>& file_flags);

// The value of environment variable `var`, registered as a secret; a usage
// error naming `what` if it is not set.
std::string secret_from_env(const std::string& var, const std::string& what);

// Writes `"build_secrets": [...]` into an open object; with `redacted` every
// value is "***".
void write_secrets(json::writer& w, const std::vector<build_secret>& secrets, bool redacted);

}  // namespace nullspace::cli
