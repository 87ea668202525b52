#include "storage/common/sha256.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <new>
#include <stdexcept>

namespace nullspace {
namespace {

EVP_MD_CTX* md(void* p) {
  return static_cast<EVP_MD_CTX*>(p);
}

void init(void* ctx) {
  if (EVP_DigestInit_ex(md(ctx), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: EVP_DigestInit_ex failed");
}

}  // namespace

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) throw std::bad_alloc();
  try {
    init(ctx_);
  } catch (...) {
    EVP_MD_CTX_free(md(ctx_));
    throw;
  }
}

sha256::~sha256() {
  EVP_MD_CTX_free(md(ctx_));
}

sha256& sha256::update(std::string_view bytes) {
  if (!bytes.empty() && EVP_DigestUpdate(md(ctx_), bytes.data(), bytes.size()) != 1)
    throw std::runtime_error("sha256: EVP_DigestUpdate failed");
  return *this;
}

sha256& sha256::update_field(std::string_view bytes) {
  // 8-byte big-endian length, then the bytes: field boundaries are unambiguous.
  unsigned char len[8];
  auto n = static_cast<uint64_t>(bytes.size());
  for (int i = 7; i >= 0; --i, n >>= 8) len[i] = static_cast<unsigned char>(n & 0xFF);
  update(std::string_view(reinterpret_cast<const char*>(len), sizeof len));
  return update(bytes);
}

std::string sha256::hex_digest() {
  static constexpr char hex[] = "0123456789abcdef";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(md(ctx_), digest, &size) != 1)
    throw std::runtime_error("sha256: EVP_DigestFinal_ex failed");
  init(ctx_);  // the hasher starts over, so a second use hashes fresh input
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xF]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

}  // namespace nullspace
