// TCP ports something listens on in a machine's network namespace, asked of
// the kernel over NETLINK_SOCK_DIAG (an inet_diag dump of TCP_LISTEN sockets,
// IPv4 and IPv6). The dump walks only the listening hash; /proc/<pid>/net/tcp
// walks the host's whole established-connection hash, whose size follows the
// host's memory (10 to 30 ms a read on a 24 GiB host: every machine GET paid it).
#pragma once

#include <cstdint>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

// A NETLINK_SOCK_DIAG socket in the calling thread's network namespace (it
// keeps answering for that namespace wherever it is used).
result<int> open_sock_diag();

// Sorted, each port once.
result<std::vector<uint16_t>> listening_tcp_ports(int sock_diag_fd);

}  // namespace nullspace::runtime
