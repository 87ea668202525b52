#include "runtime/request/file_mode.hpp"

#include <charconv>

namespace nullspace::runtime {
namespace {

constexpr uint32_t user_bits = 04700, group_bits = 02070, other_bits = 01007;

// Applies one clause ([ugoa]*([-+=]([rwxXst]*|[ugo]))+) to `mode`; false if it
// is not one.
bool clause(std::string_view c, uint32_t& mode, bool is_dir) {
  uint32_t who = 0;
  size_t i = 0;
  for (; i < c.size() && std::string_view("ugoa").find(c[i]) != std::string_view::npos; ++i)
    who |= c[i] == 'u' ? user_bits : c[i] == 'g' ? group_bits : c[i] == 'o' ? other_bits : 07777;
  if (who == 0) who = 07777;
  if (i == c.size()) return false;  // a clause needs an operator
  while (i < c.size()) {
    char op = c[i++];
    if (op != '+' && op != '-' && op != '=') return false;
    uint32_t perm = 0;
    if (i < c.size() && std::string_view("ugo").find(c[i]) != std::string_view::npos) {
      // Copy another class's rwx bits: g=u gives the group what the user has.
      uint32_t from = c[i] == 'u' ? (mode >> 6) & 7 : c[i] == 'g' ? (mode >> 3) & 7 : mode & 7;
      perm = from * 0111;
      ++i;
    } else {
      for (; i < c.size() && std::string_view("rwxXst").find(c[i]) != std::string_view::npos; ++i)
        switch (c[i]) {
          case 'r':
            perm |= 0444;
            break;
          case 'w':
            perm |= 0222;
            break;
          case 'x':
            perm |= 0111;
            break;
          case 'X':
            if (is_dir || (mode & 0111)) perm |= 0111;
            break;
          case 's':
            perm |= 06000;
            break;
          case 't':
            perm |= 01000;
            break;
        }
    }
    perm &= who;
    if (op == '+')
      mode |= perm;
    else if (op == '-')
      mode &= ~perm;
    else
      mode = (mode & ~who) | perm;
  }
  return true;
}

bool symbolic(std::string_view spec, uint32_t& mode, bool is_dir) {
  if (spec.empty()) return false;
  while (true) {
    auto comma = spec.find(',');
    if (!clause(spec.substr(0, comma), mode, is_dir)) return false;
    if (comma == std::string_view::npos) return true;
    spec.remove_prefix(comma + 1);
  }
}

}  // namespace

bool octal_chmod(std::string_view spec) {
  uint32_t mode = 0;
  auto [p, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), mode, 8);
  return !spec.empty() && ec == std::errc{} && p == spec.data() + spec.size() && mode <= 07777;
}

bool valid_chmod(std::string_view spec) {
  uint32_t mode = 0;
  return octal_chmod(spec) || symbolic(spec, mode, false);
}

uint32_t apply_chmod(std::string_view spec, uint32_t mode, bool is_dir) {
  if (octal_chmod(spec)) {
    uint32_t out = 0;
    std::from_chars(spec.data(), spec.data() + spec.size(), out, 8);
    return out;
  }
  mode &= 07777;
  symbolic(spec, mode, is_dir);
  return mode & 07777;
}

}  // namespace nullspace::runtime
