// Resolves a user as a command names it ("app", "1000", "1000:1000",
// "app:staff") to uid:gid through the machine's own /etc/passwd and
// /etc/group, read inside its root (never the host's files).
#pragma once

#include <cstdint>
#include <string>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

struct machine_user {
  uint32_t uid = 0, gid = 0;
};

// invalid_argument (field "user") naming what is unknown.
result<machine_user> resolve_machine_user(int root, const std::string& user);

}  // namespace nullspace::runtime
