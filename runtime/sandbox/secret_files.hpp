// Build secrets as files: the one way secret values reach a step. They live in
// a fresh 0700 directory on a memory-backed tmpfs (never on disk, never in the
// data dir), one 0400 file per secret id.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nullspace::runtime {

using secret_values_by_id = std::vector<std::pair<std::string, std::string>>;  // id, value

// Creates `dir` afresh (it must lie on a memory-backed tmpfs) and writes the
// files. Returns "" or a sentence saying what failed; never a value.
std::string write_secret_files(const std::string& dir, const secret_values_by_id& secrets);

}  // namespace nullspace::runtime
