#include "storage/common/absolute_path.hpp"

#include <filesystem>

namespace nullspace {

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec) return path;  // no cwd (deleted): the consumer's open reports it
  auto out = abs.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace nullspace
