// The API paths of one machine's routes (/v1/machines/{id}/…), with the id
// percent-encoded as one path segment.
#pragma once

#include <string>
#include <string_view>

#include "tools/nullspace/api_client.hpp"

namespace nullspace::cli {

// "/v1/machines/m_…" followed by `rest` ("", "/pause", "/files?path=…").
inline std::string machine_path(std::string_view id, std::string_view rest = "") {
  return "/v1/machines/" + encode_component(id) + std::string(rest);
}

}  // namespace nullspace::cli
