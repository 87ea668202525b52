// The shell command a package or clone step runs inside the sandbox. Every word
// taken from the request is single-quoted, so package names and URLs are data,
// never shell syntax.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

// 'text' for /bin/sh, with embedded single quotes escaped.
std::string shell_quote(std::string_view text);

// The command of an apt_install, pip_install, npm_install, git_clone or run
// step; "" for steps that run no command (env, workdir, user, copy).
std::string step_command(const build_step& step);

// The environment that points pip at a package index (nullspaced
// --pip-index-url): PIP_INDEX_URL, plus PIP_TRUSTED_HOST (host[:port]) for a
// plain-http index. Empty for "".
std::vector<std::string> package_mirror_env(const std::string& pip_index_url);

}  // namespace nullspace::runtime
