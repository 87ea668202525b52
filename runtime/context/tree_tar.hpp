// Packs part of a directory tree into a tar archive, so that COPY --from=<stage>
// reads a stage's files exactly as a copy step reads an uploaded build context
// (runtime/context/context_copy.hpp): one set of COPY semantics for both.
#pragma once

#include <string>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

// Writes `root`/`rel` and everything below it to `tar_path`, named relative to
// `root` ("usr/bin/x"). Symlinks are stored as links, never followed; special
// files are stored as what they are (the copy skips them). invalid_argument if
// `rel` does not exist. Blocking.
result<bool> tar_tree(const std::string& root, const std::string& rel, const std::string& tar_path);

}  // namespace nullspace::runtime
