#include "storage/common/new_id.hpp"

#include <mutex>
#include <random>

#include "storage/common/time_format.hpp"

namespace nullspace {

std::string new_id(std::string_view prefix) {
  static std::mutex mtx;
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  uint64_t t = static_cast<uint64_t>(storage::now_ms());
  uint64_t r;
  {
    std::lock_guard<std::mutex> g(mtx);
    r = rng();
  }
  std::string id(prefix);
  for (int shift = 44; shift >= 0; shift -= 4) id.push_back(hex[(t >> shift) & 0xF]);  // 12 digits
  for (int shift = 44; shift >= 0; shift -= 4) id.push_back(hex[(r >> shift) & 0xF]);
  return id;
}

}  // namespace nullspace
