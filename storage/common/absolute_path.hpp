// Paths from settings made absolute once, at start-up. A relative path is
// relative to the process's working directory *then*; handed on as it is, it
// would be read against whatever directory a later consumer works in (the OCI
// runtime resolves a bundle's rootfs against the bundle, not our cwd).
#pragma once

#include <string>

namespace nullspace {

// `path` joined onto the current working directory if it is relative, then
// normalized lexically ("./data/" -> "/cwd/data"). Symlinks are not resolved
// and the path need not exist. "" stays "" (an unset setting).
std::string absolute_path(const std::string& path);

}  // namespace nullspace
