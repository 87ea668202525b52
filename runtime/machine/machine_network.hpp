// A machine's network: its own network namespace, bound to a file of the
// machine (not /run/netns, so everything of a machine is under DATA), with
// `lo` up. Without internet access that is all. With it, a veth pair
// joins the namespace to the host: the host end `nsv…` gets .1 and the
// machine's `eth0` .2 of a /30 taken from the driver's range (default
// 10.88.0.0/16), the machine's default route goes through the host end, and
// iptables masquerades the range (rules installed once, idempotent):
//
//   nat    POSTROUTING -s <range> ! -o nsv+ -j MASQUERADE   out to the world
//   filter FORWARD -i nsv+ -o nsv+ -j DROP                   machine to machine
//   filter FORWARD -i nsv+ ! -o nsv+ -j ACCEPT, replies back  (for DROP policies)
//   filter INPUT -i nsv+ -j DROP                             machine to host
//
// Each machine has its own namespace, so ten machines all listen on :8000.
//
// Thread-safe. Namespace changes run on a short-lived thread of their own, so
// the caller's thread never leaves the host's namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "nullspace/error.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {

struct machine_net {
  bool internet = false;
  int64_t slot = -1;  // the /30's index in the range, -1 without a veth
  std::string veth, host_ip, guest_ip;
};

class machine_network {
 public:
  // `range`: "a.b.c.d/n" with n <= 30 (checked by valid_range).
  explicit machine_network(const std::string& range);
  static bool valid_range(const std::string& range);

  // Makes the namespace; with `internet`, the veth pair (`veth` on the host,
  // aliased `id`) and NAT. The namespace lives as long as `ns` (a descriptor
  // of it) until bind() pins it to a file, so it can be made while the
  // machine's disk, which holds that file, is still being mounted. On error
  // nothing is left.
  struct made {
    machine_net net;
    unique_fd ns;
    unique_fd sock_diag;  // a NETLINK_SOCK_DIAG socket in it (listening_ports)
  };
  result<made> create(const std::string& id, const std::string& veth, bool internet);
  // Binds the namespace `ns` to `netns_path` (created as an empty file).
  static result<bool> bind(int ns, const std::string& netns_path);
  // Marks an adopted machine's /30 as taken.
  void adopt(const machine_net& net);
  // Removes the veth, unbinds the namespace and frees the /30. Idempotent.
  void destroy(const std::string& veth, const std::string& netns_path, int64_t slot);

  // A TCP socket (non-blocking) connected to 127.0.0.1:`port` inside the
  // namespace at `netns_path`; unavailable if nothing listens there.
  static result<int> connect(const std::string& netns_path, uint16_t port);
  // `make()` run inside the namespace at `netns_path` (on a thread of its
  // own): a socket made there keeps working in it from anywhere.
  static result<int> socket_in(const std::string& netns_path,
                               const std::function<result<int>()>& make);

 private:
  result<bool> ensure_nat();
  result<int64_t> take_slot();
  std::string address(int64_t slot, int host_part) const;

  std::string range_;
  uint32_t base_ = 0;  // host byte order
  int64_t slots_ = 0;
  std::mutex mu_;
  std::set<int64_t> used_;
};

}  // namespace nullspace::runtime
