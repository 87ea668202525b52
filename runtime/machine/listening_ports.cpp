#include "runtime/machine/listening_ports.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace nullspace::runtime {
namespace {

constexpr const char* tcp_listen = "0A";  // include/net/tcp_states.h: TCP_LISTEN

void read_table(const std::string& path, std::vector<uint16_t>& out) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    // "  sl  local_address rem_address   st …": local is <hex addr>:<hex port>
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    if (!(fields >> slot >> local >> remote >> state) || state != tcp_listen) continue;
    auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    try {
      auto port = std::stoul(local.substr(colon + 1), nullptr, 16);
      if (port > 0 && port <= 65535) out.push_back(static_cast<uint16_t>(port));
    } catch (...) {
      continue;  // a line we do not understand is not a port
    }
  }
}

}  // namespace

std::vector<uint16_t> listening_tcp_ports(pid_t pid) {
  std::vector<uint16_t> out;
  auto base = "/proc/" + std::to_string(pid) + "/net/";
  read_table(base + "tcp", out);
  read_table(base + "tcp6", out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace nullspace::runtime
