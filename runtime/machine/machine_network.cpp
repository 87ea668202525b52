#include "runtime/machine/machine_network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <thread>

#include "runtime/machine/listening_ports.hpp"
#include "runtime/machine/netlink_route.hpp"
#include "runtime/process/command.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {

namespace {

constexpr int connect_timeout_ms = 2000;
constexpr const char* comment = "nullspace-machines";

std::string errno_text(int err) {
  return std::strerror(err);
}

// Runs `fn` on a fresh thread and returns its result: namespace changes
// (unshare, setns) then never touch the caller's thread.
template <class Fn>
auto on_own_thread(Fn fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto answer = task.get_future();
  std::thread(std::move(task)).join();
  return answer.get();
}

bool parse_range(const std::string& range, uint32_t& base, int& prefix) {
  auto slash = range.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{};
  if (::inet_pton(AF_INET, range.substr(0, slash).c_str(), &a) != 1) return false;
  char* end = nullptr;
  long p = std::strtol(range.c_str() + slash + 1, &end, 10);
  if (!end || *end != '\0' || p < 8 || p > 30) return false;
  prefix = static_cast<int>(p);
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  base = ntohl(a.s_addr) & mask;
  return true;
}

// Adds an iptables rule unless it is there (`-C` first): `insert` puts it
// first in its chain, otherwise last.
result<bool> ensure_rule(const std::string& table, const std::string& chain, bool insert,
                         std::vector<std::string> spec) {
  spec.insert(spec.end(), {"-m", "comment", "--comment", comment});
  std::vector<std::string> check{"iptables", "-w", "-t", table, "-C", chain};
  check.insert(check.end(), spec.begin(), spec.end());
  auto c = run_command(check);
  if (!c)
    return make_error(errc::unavailable,
                      "machines with internet access need iptables: " + c.error().message);
  if (c->exit_status == 0) return true;
  std::vector<std::string> add{"iptables", "-w", "-t", table};
  if (insert)
    add.insert(add.end(), {"-I", chain, "1"});
  else
    add.insert(add.end(), {"-A", chain});
  add.insert(add.end(), spec.begin(), spec.end());
  auto a = run_command(add);
  if (!a || a->exit_status != 0)
    return make_error(errc::unavailable, "cannot add the iptables rule for machines (" + table +
                                             " " + chain +
                                             "): " + (a ? a->output : a.error().message));
  return true;
}

}  // namespace

bool machine_network::valid_range(const std::string& range) {
  uint32_t base;
  int prefix;
  return parse_range(range, base, prefix);
}

machine_network::machine_network(const std::string& range) : range_(range) {
  int prefix = 30;
  if (!parse_range(range, base_, prefix)) parse_range("10.88.0.0/16", base_, prefix);
  slots_ = int64_t{1} << (32 - prefix - 2);
  range_ = std::string(inet_ntoa(in_addr{htonl(base_)})) + "/" + std::to_string(prefix);
}

std::string machine_network::address(int64_t slot, int host_part) const {
  in_addr a{htonl(base_ + static_cast<uint32_t>(slot) * 4 + static_cast<uint32_t>(host_part))};
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, text, sizeof text);
  return text;
}

result<bool> machine_network::ensure_nat() {
  // The rules are the host's: once per process and range.
  static std::mutex mu;
  static std::set<std::string> done;
  std::lock_guard lock(mu);
  if (done.contains(range_)) return true;
  auto forward = read_text_file("/proc/sys/net/ipv4/ip_forward");
  if (!forward.starts_with("1")) {
    if (!write_text_file("/proc/sys/net/ipv4/ip_forward", "1\n"))
      return make_error(errc::unavailable, "cannot enable IPv4 forwarding for machines");
    logging::runtime.info("set net.ipv4.ip_forward=1 so machines reach the network through NAT");
  }
  if (auto r = ensure_rule("nat", "POSTROUTING", false,
                           {"-s", range_, "!", "-o", "nsv+", "-j", "MASQUERADE"});
      !r)
    return r;
  if (auto r = ensure_rule(
          "filter", "FORWARD", true,
          {"-o", "nsv+", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"});
      !r)
    return r;
  if (auto r =
          ensure_rule("filter", "FORWARD", true, {"-i", "nsv+", "!", "-o", "nsv+", "-j", "ACCEPT"});
      !r)
    return r;
  if (auto r = ensure_rule("filter", "FORWARD", true, {"-i", "nsv+", "-o", "nsv+", "-j", "DROP"});
      !r)
    return r;
  if (auto r = ensure_rule("filter", "INPUT", true, {"-i", "nsv+", "-j", "DROP"}); !r) return r;
  logging::runtime.info("machine NAT through iptables", {{"range", range_}, {"comment", comment}});
  done.insert(range_);
  return true;
}

result<int64_t> machine_network::take_slot() {
  std::set<int64_t> taken;
  // Addresses on host links: machines of an earlier run that are not adopted yet.
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (auto* a = list; a; a = a->ifa_next) {
      if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
      auto ip = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
      if (ip >= base_ && ip - base_ < static_cast<uint64_t>(slots_) * 4)
        taken.insert((ip - base_) / 4);
    }
    ::freeifaddrs(list);
  }
  std::lock_guard lock(mu_);
  for (int64_t s = 0; s < slots_; ++s)
    if (!used_.contains(s) && !taken.contains(s)) {
      used_.insert(s);
      return s;
    }
  return make_error(errc::resource_exhausted, "no free address for another machine in " + range_ +
                                                  " (" + std::to_string(slots_) +
                                                  " machines with internet access at most)");
}

result<machine_network::made> machine_network::create(const std::string& id,
                                                      const std::string& veth, bool internet) {
  made out;
  out.net.internet = internet;
  auto& net = out.net;
  if (internet) {
    if (auto nat = ensure_nat(); !nat) return nat.error();
    auto slot = take_slot();
    if (!slot) return slot.error();
    net.slot = *slot;
    net.veth = veth;
    net.host_ip = address(net.slot, 1);
    net.guest_ip = address(net.slot, 2);
  }
  unique_fd diag;
  auto ns = on_own_thread([&]() -> result<int> {
    unique_fd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!own || ::unshare(CLONE_NEWNET) != 0)
      return make_error(errc::internal, "cannot make a network namespace: " + errno_text(errno));
    // Held by this descriptor once the thread has left it.
    unique_fd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    auto inner = netlink_route::open();
    if (auto d = open_sock_diag()) diag.reset(*d);  // else made on first use
    ::setns(own.get(), CLONE_NEWNET);
    if (!ns) return make_error(errc::internal, "cannot hold the network namespace");
    if (!inner) return inner.error();
    auto lo = inner->link_index("lo");
    if (!lo) return lo.error();
    if (auto up = inner->set_up(*lo); !up) return up.error();
    if (!internet) return ns.release();

    auto host = netlink_route::open();
    if (!host) return host.error();
    (void)host->delete_link(veth);  // left by a crash before this id's last destroy? (or none)
    auto fail = [&](const char* what, const error& e) -> result<int> {
      (void)host->delete_link(veth);  // undo, quietly: the error reported is `e`
      return make_error(errc::internal, std::string("machine network: ") + what + ": " + e.message);
    };
    if (auto r = host->add_veth(veth, "eth0", ns.get()); !r) return fail("veth pair", r.error());
    auto hidx = host->link_index(veth);
    if (!hidx) return fail("host link", hidx.error());
    if (auto r = host->set_alias(*hidx, id); !r) return fail("link alias", r.error());
    if (auto r = host->add_address(*hidx, net.host_ip, 30); !r)
      return fail("host address", r.error());
    if (auto r = host->set_up(*hidx); !r) return fail("host link up", r.error());
    auto gidx = inner->link_index("eth0");
    if (!gidx) return fail("eth0", gidx.error());
    if (auto r = inner->add_address(*gidx, net.guest_ip, 30); !r)
      return fail("eth0 address", r.error());
    if (auto r = inner->set_up(*gidx); !r) return fail("eth0 up", r.error());
    if (auto r = inner->add_default_route(*gidx, net.host_ip); !r)
      return fail("default route", r.error());
    return ns.release();
  });
  if (!ns) {
    destroy(net.veth, "", net.slot);
    return ns.error();
  }
  out.ns.reset(*ns);
  out.sock_diag = std::move(diag);
  return out;
}

result<bool> machine_network::bind(int ns, const std::string& netns_path) {
  {
    unique_fd f(::open(netns_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
    if (!f)
      return make_error(errc::internal, "cannot create " + netns_path + ": " + errno_text(errno));
  }
  // Pinned by the bind mount: it outlives the descriptor (and the daemon).
  auto source = "/proc/self/fd/" + std::to_string(ns);
  if (::mount(source.c_str(), netns_path.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return make_error(errc::internal, "cannot bind the network namespace at " + netns_path + ": " +
                                          errno_text(errno));
  return true;
}

void machine_network::adopt(const machine_net& net) {
  if (net.slot < 0) return;
  std::lock_guard lock(mu_);
  used_.insert(net.slot);
}

void machine_network::destroy(const std::string& veth, const std::string& netns_path,
                              int64_t slot) {
  if (!veth.empty())
    if (auto nl = netlink_route::open()) (void)nl->delete_link(veth);  // gone already is fine
  if (!netns_path.empty()) {
    ::umount2(netns_path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);  // EINVAL: nothing bound
    ::unlink(netns_path.c_str());
  }
  if (slot >= 0) {
    std::lock_guard lock(mu_);
    used_.erase(slot);
  }
}

result<int> machine_network::socket_in(const std::string& netns_path,
                                       const std::function<result<int>()>& make) {
  return on_own_thread([&]() -> result<int> {
    unique_fd target(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    unique_fd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!target || !own) return make_error(errc::not_found, "the machine's network is gone");
    if (::setns(target.get(), CLONE_NEWNET) != 0)
      return make_error(errc::internal, "cannot enter the machine's network: " + errno_text(errno));
    auto made = make();
    ::setns(own.get(), CLONE_NEWNET);
    return made;
  });
}

result<int> machine_network::connect(const std::string& netns_path, uint16_t port) {
  // The socket keeps the namespace it was made in.
  auto opened = socket_in(netns_path, []() -> result<int> {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(errc::internal, "socket: " + errno_text(errno));
    return fd;
  });
  if (!opened) return opened.error();
  unique_fd s(*opened);
  {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS)
      return make_error(errc::unavailable, "nothing listens on port " + std::to_string(port) +
                                               " in the machine (" + errno_text(errno) + ")");
  }
  pollfd p{s.get(), POLLOUT, 0};
  int ready;
  while ((ready = ::poll(&p, 1, connect_timeout_ms)) < 0 && errno == EINTR) {
  }
  if (ready != 1)
    return make_error(errc::unavailable,
                      "connecting to port " + std::to_string(port) + " in the machine timed out");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0)
    return make_error(errc::unavailable, "nothing listens on port " + std::to_string(port) +
                                             " in the machine (" + errno_text(err) + ")");
  return s.release();
}

}  // namespace nullspace::runtime
