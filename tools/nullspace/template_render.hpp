// Templates and build history as people read them: a template's details,
// tables of templates and builds.
#pragma once

#include <string>
#include <vector>

#include "tools/nullspace/json_util.hpp"

namespace nullspace::cli {

// "namespace/name"
std::string template_ref(js::element t);

// A template T: name, visibility, tags, aliases, latest ready build, and the
// build the ref resolved to.
std::string template_details(js::element t);

// One row per template: NAME, VISIBILITY, TAGS, LATEST READY BUILD.
std::string templates_table(const std::vector<js::element>& templates);

// One row per build, newest first: ID, STATUS, BACKEND, TAGS, CREATED, DETAIL.
std::string builds_table(const std::vector<js::element>& builds);

// Columns padded to their widest cell (two spaces apart).
std::string table(const std::vector<std::vector<std::string>>& rows);

}  // namespace nullspace::cli
