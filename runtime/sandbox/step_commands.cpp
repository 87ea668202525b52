#include "runtime/sandbox/step_commands.hpp"

namespace nullspace::runtime {
namespace {

std::string quoted_words(const std::vector<std::string>& words) {
  std::string out;
  for (auto& w : words) out += " " + shell_quote(w);
  return out;
}

}  // namespace

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  out += "'";
  return out;
}

std::string step_command(const build_step& step) {
  switch (step.type) {
    case step_type::run:
      return step.cmd;
    case step_type::apt_install:
      // `apt-get update` exits 0 offline unless told that any failure is one.
      return "set -e; export DEBIAN_FRONTEND=noninteractive; "
             "apt-get update -o APT::Update::Error-Mode=any; "
             "apt-get install -y --no-install-recommends" +
             quoted_words(step.packages) + "; rm -rf /var/lib/apt/lists/*";
    case step_type::pip_install:
      return "set -e; python3 -m pip install --no-cache-dir --break-system-packages" +
             quoted_words(step.packages);
    case step_type::npm_install:
      return std::string("set -e; npm install") + (step.global ? " --global" : "") +
             quoted_words(step.packages);
    case step_type::git_clone:
      return "set -e; git clone --depth 1" +
             (step.ref.empty() ? std::string() : " --branch " + shell_quote(step.ref)) + " " +
             shell_quote(step.url) + " " + shell_quote(step.dest);
    default:
      return {};
  }
}

std::vector<std::string> package_mirror_env(const std::string& pip_index_url) {
  if (pip_index_url.empty()) return {};
  std::vector<std::string> env{"PIP_INDEX_URL=" + pip_index_url};
  // pip refuses plain http from hosts it is not told to trust (loopback aside).
  constexpr std::string_view http = "http://";
  if (pip_index_url.starts_with(http)) {
    auto rest = pip_index_url.substr(http.size());
    auto host = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
    if (!host.empty()) env.push_back("PIP_TRUSTED_HOST=" + host);
  }
  return env;
}

}  // namespace nullspace::runtime
