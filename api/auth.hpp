// API keys: each key maps to a tenant. Keys are held only as SHA-256 digests,
// so a memory dump or a log of this table never shows one.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nullspace/error.hpp"
#include "nullspace/ids.hpp"

namespace nullspace::api {

class key_table {
 public:
  // One `key tenant` pair per line; blank lines and lines starting with # are
  // skipped. Errors name the line (never the key).
  static result<key_table> load_file(const std::string& path);
  // The same format from a string (NULLSPACE_API_KEYS; ',' also separates pairs).
  static result<key_table> parse(std::string_view text, std::string_view origin);

  bool empty() const { return tenants_.empty(); }
  size_t size() const { return tenants_.size(); }
  // The tenant of a bearer token, if it is a known key.
  std::optional<tenant_id> tenant_of(std::string_view key) const;
  // Every tenant with a key, sorted, once each.
  std::vector<std::string> tenants() const;
  void merge(const key_table& other);

 private:
  std::unordered_map<std::string, tenant_id> tenants_;  // sha256(key) hex → tenant
};

// The tenant for an Authorization header value. With no keys configured every
// request is tenant "default".
result<tenant_id> authenticate(const key_table& keys, std::string_view authorization);

// 127.0.0.0/8, ::1 and "localhost": what a server without keys may bind.
bool is_loopback_host(std::string_view host);

}  // namespace nullspace::api
