#include "api/auth.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "storage/common/sha256.hpp"

namespace nullspace::api {
namespace {

std::string digest(std::string_view key) {
  return sha256_hex(key);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

result<key_table> key_table::parse(std::string_view text, std::string_view origin) {
  key_table t;
  size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find_first_of("\n,");
    auto line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto sp = line.find_first_of(" \t");
    auto where = std::string(origin) + " entry " + std::to_string(line_no);
    if (sp == std::string_view::npos)
      return make_error(errc::invalid_argument, where + ": expected `key tenant`");
    auto key = line.substr(0, sp);
    auto tenant = trim(line.substr(sp + 1));
    if (key.size() < 16)
      return make_error(errc::invalid_argument, where + ": keys must be at least 16 characters");
    auto id = parse_tenant_id(tenant);
    if (!valid_name(tenant) || !id)
      return make_error(errc::invalid_argument,
                        where + ": the tenant must match [a-z0-9][a-z0-9._-]{0,62}");
    if (!t.tenants_.emplace(digest(key), std::move(id.value())).second)
      return make_error(errc::invalid_argument, where + ": the same key appears twice");
  }
  return t;
}

result<key_table> key_table::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(errc::invalid_argument, "cannot read the API keys file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto text = ss.str();
  // Only newlines separate entries in a file.
  for (auto& c : text)
    if (c == ',') c = ' ';
  return parse(text, path);
}

// Timing: the presented key is hashed first and only its SHA-256 digest is
// looked up, so how long the lookup takes (hash bucket, string compare)
// depends on the digest, not on how many leading bytes of the key match a
// real one: no constant-time compare of raw keys is needed.
std::optional<tenant_id> key_table::tenant_of(std::string_view key) const {
  auto it = tenants_.find(digest(key));
  if (it == tenants_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> key_table::tenants() const {
  std::vector<std::string> out;
  for (auto& kv : tenants_) out.push_back(kv.second.str());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void key_table::merge(const key_table& other) {
  for (auto& kv : other.tenants_) tenants_.insert(kv);
}

result<tenant_id> authenticate(const key_table& keys, std::string_view authorization) {
  if (keys.empty()) return default_tenant();
  auto v = trim(authorization);
  if (v.empty())
    return make_error(errc::unauthenticated,
                      "an API key is required: send `Authorization: Bearer <key>`");
  constexpr std::string_view scheme = "bearer ";
  if (v.size() <= scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), v.begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
    return make_error(errc::unauthenticated, "the Authorization header must use the Bearer scheme");
  auto tenant = keys.tenant_of(trim(v.substr(scheme.size())));
  if (!tenant) return make_error(errc::unauthenticated, "the API key is not valid");
  return *tenant;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.starts_with("127.");
}

}  // namespace nullspace::api
