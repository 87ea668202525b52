#include "tools/nullspace/build_secrets.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

std::pair<std::string, std::string> split_flag(const std::string& flag, const char* option,
                                               const char* what) {
  auto eq = flag.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size())
    throw usage_error(std::string(option) + " takes id=" + what + ", got '" + flag + "'");
  return {flag.substr(0, eq), flag.substr(eq + 1)};
}

}  // namespace

std::string secret_from_env(const std::string& var, const std::string& what) {
  const char* v = std::getenv(var.c_str());
  if (!v) throw usage_error("environment variable " + var + " (" + what + ") is not set");
  terminal::get().add_secret(v);
  return v;
}

std::vector<build_secret> resolve_secrets(const std::vector<std::string>& env_flags,
                                          const std::vector<std::string>& file_flags) {
  std::vector<build_secret> out;
  auto check_unique = [&](const std::string& id) {
    for (auto& s : out)
      if (s.id == id) throw usage_error("build secret '" + id + "' is given more than once");
  };
  for (auto& f : env_flags) {
    auto [id, var] = split_flag(f, "--build-secret-env", "ENV_VAR");
    check_unique(id);
    out.push_back({id, "env", secret_from_env(var, "for build secret '" + id + "'")});
  }
  for (auto& f : file_flags) {
    auto [id, path] = split_flag(f, "--build-secret-file", "PATH");
    check_unique(id);
    std::ifstream in(path, std::ios::binary);
    std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::error_code ec;
    if (!in.is_open() || std::filesystem::is_directory(path, ec))
      throw usage_error("cannot read " + path + " (for build secret '" + id + "')");
    terminal::get().add_secret(value);
    // A file ending in a newline is usually meant without it: register both.
    if (value.ends_with('\n')) terminal::get().add_secret(value.substr(0, value.size() - 1));
    out.push_back({id, "file", std::move(value)});
  }
  return out;
}

void write_secrets(json::writer& w, const std::vector<build_secret>& secrets, bool redacted) {
  w.key("build_secrets").begin_array();
  for (auto& s : secrets)
    w.begin_object()
        .field("id", s.id)
        .field("value", redacted ? std::string("***") : s.value)
        .field("source", s.source)
        .end_object();
  w.end_array();
}

}  // namespace nullspace::cli
