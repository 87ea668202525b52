// SHA-256 over OpenSSL's EVP interface.
#pragma once

#include <string>
#include <string_view>

namespace nullspace {

// Incremental hasher: update() any number of times, then hex_digest() once.
class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  sha256& update(std::string_view bytes);
  // Length-prefixed update, so that ("ab","c") and ("a","bc") hash differently.
  sha256& update_field(std::string_view bytes);
  std::string hex_digest();  // 64 lowercase hex chars

 private:
  void* ctx_;  // EVP_MD_CTX*
};

std::string sha256_hex(std::string_view bytes);

}  // namespace nullspace
