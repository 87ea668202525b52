#include "runtime/machine/netlink_route.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace nullspace::runtime {

namespace {

// One request being built: a header, a fixed body, then attributes (nests
// are closed by end_nest, which fixes up their length).
class message {
 public:
  message(uint16_t type, uint16_t flags, const void* body, size_t body_len) {
    auto* h = header();
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    h->nlmsg_len = NLMSG_LENGTH(0);
    raw(body, body_len);
  }
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_); }

  void raw(const void* data, size_t len) {
    auto at = NLMSG_ALIGN(header()->nlmsg_len);
    std::memcpy(buf_ + at, data, len);
    header()->nlmsg_len = static_cast<uint32_t>(at + NLMSG_ALIGN(len));
  }
  rtattr* attr(uint16_t type, const void* data, size_t len) {
    auto at = NLMSG_ALIGN(header()->nlmsg_len);
    auto* a = reinterpret_cast<rtattr*>(buf_ + at);
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
    header()->nlmsg_len = static_cast<uint32_t>(at + RTA_ALIGN(a->rta_len));
    return a;
  }
  rtattr* attr(uint16_t type, const std::string& s) { return attr(type, s.c_str(), s.size() + 1); }
  rtattr* begin_nest(uint16_t type) { return attr(type, nullptr, 0); }
  void end_nest(rtattr* a) {
    a->rta_len = static_cast<uint16_t>(buf_ + header()->nlmsg_len - reinterpret_cast<char*>(a));
  }

 private:
  alignas(nlmsghdr) char buf_[2048] = {};
};

result<in_addr> parse_ipv4(const std::string& ip) {
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1)
    return make_error(errc::internal, "not an IPv4 address: " + ip);
  return a;
}

}  // namespace

result<netlink_route> netlink_route::open() {
  unique_fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return make_error(errc::internal, std::string("netlink: ") + std::strerror(errno));
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    return make_error(errc::internal, std::string("netlink bind: ") + std::strerror(errno));
  return netlink_route(std::move(fd));
}

result<bool> netlink_route::request(void* msg, int* reply_index) {
  auto* h = static_cast<nlmsghdr*>(msg);
  h->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), h, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) <
      0)
    return make_error(errc::internal, std::string("netlink send: ") + std::strerror(errno));
  alignas(nlmsghdr) char buf[8192];
  for (;;) {
    auto n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return make_error(errc::internal, std::string("netlink recv: ") + std::strerror(errno));
    auto len = static_cast<unsigned>(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != h->nlmsg_seq) continue;
      if (r->nlmsg_type == RTM_NEWLINK && reply_index) {
        *reply_index = static_cast<ifinfomsg*>(NLMSG_DATA(r))->ifi_index;
        continue;
      }
      if (r->nlmsg_type != NLMSG_ERROR) continue;
      int err = -static_cast<nlmsgerr*>(NLMSG_DATA(r))->error;
      if (err == 0) return true;
      auto code = err == ENODEV ? errc::not_found : err == EEXIST ? errc::conflict : errc::internal;
      return make_error(code, std::strerror(err));
    }
  }
}

result<bool> netlink_route::add_veth(const std::string& name, const std::string& peer,
                                     int peer_netns_fd) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  m.attr(IFLA_IFNAME, name);
  auto* info = m.begin_nest(IFLA_LINKINFO);
  m.attr(IFLA_INFO_KIND, std::string("veth"));
  auto* data = m.begin_nest(IFLA_INFO_DATA);
  auto* peer_info = m.begin_nest(VETH_INFO_PEER);
  ifinfomsg peer_ifi{};
  peer_ifi.ifi_family = AF_UNSPEC;
  m.raw(&peer_ifi, sizeof peer_ifi);
  m.attr(IFLA_IFNAME, peer);
  auto ns = static_cast<uint32_t>(peer_netns_fd);
  m.attr(IFLA_NET_NS_FD, &ns, sizeof ns);
  m.end_nest(peer_info);
  m.end_nest(data);
  m.end_nest(info);
  return request(m.header());
}

result<bool> netlink_route::delete_link(const std::string& name) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  message m(RTM_DELLINK, 0, &ifi, sizeof ifi);
  m.attr(IFLA_IFNAME, name);
  return request(m.header());
}

result<int> netlink_route::link_index(const std::string& name) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  message m(RTM_GETLINK, 0, &ifi, sizeof ifi);
  m.attr(IFLA_IFNAME, name);
  int index = 0;
  if (auto r = request(m.header(), &index); !r) return r.error();
  if (index <= 0) return make_error(errc::not_found, "no link " + name);
  return index;
}

result<bool> netlink_route::set_up(int index) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  message m(RTM_SETLINK, 0, &ifi, sizeof ifi);
  return request(m.header());
}

result<bool> netlink_route::set_alias(int index, const std::string& alias) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  message m(RTM_SETLINK, 0, &ifi, sizeof ifi);
  m.attr(IFLA_IFALIAS, alias.c_str(), alias.size());
  return request(m.header());
}

result<bool> netlink_route::add_address(int index, const std::string& ip, int prefix) {
  auto a = parse_ipv4(ip);
  if (!a) return a.error();
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa.ifa_index = static_cast<uint32_t>(index);
  message m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  m.attr(IFA_LOCAL, &*a, sizeof *a);
  m.attr(IFA_ADDRESS, &*a, sizeof *a);
  return request(m.header());
}

result<bool> netlink_route::add_default_route(int index, const std::string& gateway) {
  auto gw = parse_ipv4(gateway);
  if (!gw) return gw.error();
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  message m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
  m.attr(RTA_GATEWAY, &*gw, sizeof *gw);
  auto oif = static_cast<uint32_t>(index);
  m.attr(RTA_OIF, &oif, sizeof oif);
  return request(m.header());
}

}  // namespace nullspace::runtime
