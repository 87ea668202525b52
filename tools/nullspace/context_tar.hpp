// The build context of a Dockerfile build: a directory as a tar archive in
// memory, without what its .dockerignore excludes (the server filters again,
// but ignored files never leave this machine).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nullspace::cli {

struct context_archive {
  std::string tar;
  std::string id;  // the id the server will give it: "bc_" + 32 hex of sha256(tar)
  uint64_t files = 0, bytes = 0;
  uint64_t ignored = 0;              // entries .dockerignore excluded
  std::vector<std::string> skipped;  // sockets, fifos, devices: not archived
};

// Archives `dir` (entries sorted by path, symlinks kept as links, owner 0:0).
// `.dockerignore` itself is always sent, as Docker does. A directory that
// cannot be read is a usage error (exit 2).
context_archive tar_directory(const std::string& dir);

}  // namespace nullspace::cli
