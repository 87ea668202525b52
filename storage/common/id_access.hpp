// How the library makes ids it has already validated or read back from its
// own store: the key that include/nullspace/ids.hpp declares but only the
// library defines. Never for a string that came from outside unchecked.
#pragma once

#include <string>
#include <utility>

#include "nullspace/ids.hpp"

namespace nullspace::detail {

struct id_access {
  template <class Id>
  static Id make(std::string value) {
    return Id(std::move(value));
  }
};

}  // namespace nullspace::detail

namespace nullspace {

// A build id the engine made or stored.
inline build_id known_build_id(std::string id) {
  return detail::id_access::make<build_id>(std::move(id));
}
inline tenant_id known_tenant_id(std::string id) {
  return detail::id_access::make<tenant_id>(std::move(id));
}

}  // namespace nullspace
