// New opaque ids: a prefix ("tb_", "m_", "wp_") and 24 lowercase hex digits,
// the first 12 from the clock (ids sort by creation), the rest random.
#pragma once

#include <string>
#include <string_view>

namespace nullspace {

std::string new_id(std::string_view prefix);

}  // namespace nullspace
