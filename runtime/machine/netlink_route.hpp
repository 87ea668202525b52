// A minimal rtnetlink client: the few link, address and route changes a
// machine's network needs, without starting `ip` (each run of it costs a few
// milliseconds of a machine's start). A socket works in the network namespace
// of the thread that opened it, wherever it is used later.
#pragma once

#include <cstdint>
#include <string>

#include "nullspace/error.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {

class netlink_route {
 public:
  // Opens a socket in the calling thread's current network namespace.
  static result<netlink_route> open();

  // A veth pair: `name` here, `peer` created directly in the namespace `peer_netns_fd`.
  result<bool> add_veth(const std::string& name, const std::string& peer, int peer_netns_fd);
  result<bool> delete_link(const std::string& name);  // not_found if there is none
  result<int> link_index(const std::string& name);
  result<bool> set_up(int index);
  result<bool> set_alias(int index, const std::string& alias);
  // An IPv4 address "a.b.c.d" with its prefix length.
  result<bool> add_address(int index, const std::string& ip, int prefix);
  result<bool> add_default_route(int index, const std::string& gateway);

 private:
  explicit netlink_route(unique_fd fd) : fd_(std::move(fd)) {}
  // Sends one request and waits for its acknowledgement; `reply_index` (if
  // set) receives the interface index of an RTM_NEWLINK answer.
  result<bool> request(void* msg, int* reply_index = nullptr);
  unique_fd fd_;
  uint32_t seq_ = 0;
};

}  // namespace nullspace::runtime
