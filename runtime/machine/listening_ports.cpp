#include "runtime/machine/listening_ports.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace nullspace::runtime {
namespace {

error diag_error(const char* what) {
  return make_error(errc::internal, std::string("sock_diag ") + what + ": " + std::strerror(errno));
}

// One dump of `family`'s listening TCP sockets into `out`.
result<bool> dump(int fd, uint8_t family, std::vector<uint16_t>& out) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << TCP_LISTEN;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return diag_error("send");
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return diag_error("recv");
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        errno = -e->error;
        return diag_error("dump");
      }
      auto* d = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (auto port = ntohs(d->id.idiag_sport); port > 0) out.push_back(port);
    }
  }
}

}  // namespace

result<int> open_sock_diag() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return diag_error("socket");
  return fd;
}

result<std::vector<uint16_t>> listening_tcp_ports(int sock_diag_fd) {
  std::vector<uint16_t> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}})
    if (auto r = dump(sock_diag_fd, family, out); !r) return r.error();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace nullspace::runtime
