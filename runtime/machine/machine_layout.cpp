#include "runtime/machine/machine_layout.hpp"

#include "storage/common/sha256.hpp"

namespace nullspace::runtime {

bool valid_machine_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

bool valid_artifact_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.'))
      return false;
  return true;
}

machine_layout::machine_layout(std::string data_dir)
    : machines_(std::move(data_dir) + "/machines") {}

std::string machine_layout::veth(const std::string& id) {
  return "nsv" + sha256_hex(id).substr(0, 12);
}

}  // namespace nullspace::runtime
