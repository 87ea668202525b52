#include "runtime/machine/machine_disk.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "runtime/process/command.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t mib = 1 << 20;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Attaches `file` to a free loop device; the device detaches itself when its
// last user (our descriptor, then the mount) lets go.
result<std::pair<unique_fd, std::string>> attach_loop(int file, const std::string& image,
                                                      bool read_only) {
  unique_fd ctl(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!ctl)
    return make_error(errc::unavailable, "cannot open /dev/loop-control: " + errno_text(errno));
  // Another process may take the device we were offered before we configure
  // it (EBUSY): ask again.
  for (int attempt = 0; attempt < 64; ++attempt) {
    int n = ::ioctl(ctl.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return make_error(errc::unavailable, "no free loop device: " + errno_text(errno));
    auto path = "/dev/loop" + std::to_string(n);
    unique_fd dev(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!dev) {
      if (errno == ENOENT) continue;  // the node is still being made
      return make_error(errc::unavailable, "cannot open " + path + ": " + errno_text(errno));
    }
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(file);
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), image.c_str(), LO_NAME_SIZE - 1);
    if (::ioctl(dev.get(), LOOP_CONFIGURE, &cfg) == 0)
      return std::pair<unique_fd, std::string>{std::move(dev), path};
    if (errno != EBUSY)
      return make_error(errc::unavailable,
                        "cannot attach " + image + " to " + path + ": " + errno_text(errno));
    std::this_thread::yield();
  }
  return make_error(errc::unavailable, "no free loop device for " + image + " (all taken)");
}

std::string backing_file(const std::string& loop_name) {
  auto text = read_text_file("/sys/block/" + loop_name + "/loop/backing_file");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// Calls fn(loop name) for each loop device whose backing file `match`es.
// (The kernel shows a deleted backing file as "<path> (deleted)".)
template <class Match, class Fn>
void for_each_loop(Match match, Fn fn) {
  std::error_code ec;
  for (fs::directory_iterator it("/sys/block", ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!name.starts_with("loop")) continue;
    auto file = backing_file(name);
    if (file.ends_with(" (deleted)")) file.resize(file.size() - 10);
    if (!file.empty() && match(file)) fn(name);
  }
}

result<bool> copy_data_extents(const std::string& from, const std::string& to, uint64_t bytes) {
  unique_fd src(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) return make_error(errc::internal, "cannot read " + from + ": " + errno_text(errno));
  unique_fd dst(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!dst) return make_error(errc::internal, "cannot create " + to + ": " + errno_text(errno));
  if (::ftruncate(dst.get(), static_cast<off_t>(bytes)) != 0)
    return make_error(errc::internal, "cannot size " + to + ": " + errno_text(errno));
  off_t pos = 0;
  auto size = static_cast<off_t>(bytes);
  while (pos < size) {
    off_t data = ::lseek(src.get(), pos, SEEK_DATA);
    if (data < 0) break;  // only a hole is left
    off_t hole = ::lseek(src.get(), data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    off_t in = data, out = data;
    while (in < hole) {
      auto n =
          ::copy_file_range(src.get(), &in, dst.get(), &out, static_cast<size_t>(hole - in), 0);
      if (n <= 0)
        return make_error(errc::internal, "cannot copy " + from + " to " + to + ": " +
                                              errno_text(n < 0 ? errno : EIO));
    }
    pos = hole;
  }
  return true;
}

result<bool> make_blank(const std::string& blank, uint64_t bytes) {
  std::string mkfs;
  for (auto p : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"})
    if (::access(p, X_OK) == 0) mkfs = p;
  if (mkfs.empty())
    return make_error(errc::unavailable,
                      "machine disks need mkfs.ext4 (apt-get install e2fsprogs)");
  // Made aside and renamed into place: concurrent starts may both make it.
  auto tmp = blank + ".tmp-" + std::to_string(::getpid()) + "-" +
             std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    unique_fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!f || ::ftruncate(f.get(), static_cast<off_t>(bytes)) != 0)
      return make_error(errc::internal, "cannot create " + tmp + ": " + errno_text(errno));
  }
  // No journal (a machine's disk does not outlive the host), no blocks
  // reserved for root, inode tables left to be zeroed lazily (never, as the
  // mount says noinit_itable: in a fresh sparse file they read as zeros).
  auto r = run_command({mkfs, "-q", "-F", "-b", "4096", "-m", "0", "-O", "^has_journal", "-E",
                        "lazy_itable_init=1,nodiscard", "-L", "machine", tmp});
  if (!r || r->exit_status != 0) {
    ::unlink(tmp.c_str());
    std::string why = r ? r->output : r.error().message;
    return make_error(errc::internal, "mkfs.ext4 of a blank machine disk failed: " + why);
  }
  if (::rename(tmp.c_str(), blank.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return make_error(errc::internal, "cannot store " + blank + ": " + errno_text(err));
  }
  return true;
}

}  // namespace

result<bool> mount_ext4_image(const std::string& image, const std::string& target, bool read_only) {
  unique_fd file(::open(image.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!file) return make_error(errc::internal, "cannot open " + image + ": " + errno_text(errno));
  auto loop = attach_loop(file.get(), image, read_only);
  if (!loop) return loop.error();
  // ro: the artifact's journal is clean and never replayed (noload).
  // rw: inode tables of a fresh image read as zeros; never zero them.
  auto options = read_only ? "noload" : "noinit_itable";
  if (::mount(loop->second.c_str(), target.c_str(), "ext4", read_only ? MS_RDONLY : 0, options) !=
      0)
    return make_error(errc::internal,
                      "cannot mount " + image + " at " + target + ": " + errno_text(errno));
  return true;  // closing `loop` leaves the device to the mount (autoclear)
}

void detach_loops_of(const std::string& file) {
  for_each_loop([&](const std::string& f) { return f == file; },
                [](const std::string& name) {
                  unique_fd dev(::open(("/dev/" + name).c_str(), O_RDONLY | O_CLOEXEC));
                  if (dev) ::ioctl(dev.get(), LOOP_CLR_FD, 0);
                });
}

int loops_under(const std::string& dir) {
  int n = 0;
  for_each_loop([&](const std::string& f) { return f.starts_with(dir + "/"); },
                [&](const std::string&) { ++n; });
  return n;
}

int loops_of(const std::string& file) {
  int n = 0;
  for_each_loop([&](const std::string& f) { return f == file; }, [&](const std::string&) { ++n; });
  return n;
}

result<bool> make_blank_disk(const std::string& blank_dir, const std::string& path,
                             uint64_t bytes) {
  std::error_code ec;
  fs::create_directories(blank_dir, ec);
  if (ec) return make_error(errc::internal, "cannot create " + blank_dir + ": " + ec.message());
  auto blank = blank_dir + "/" + std::to_string(bytes) + ".ext4";
  if (::access(blank.c_str(), R_OK) != 0)
    if (auto made = make_blank(blank, bytes); !made) return made;
  return copy_data_extents(blank, path, bytes);
}

uint64_t disk_image_bytes(uint32_t free_mb) {
  // ext4 without a journal keeps about 1/20 of the image for inode tables,
  // bitmaps and superblock copies (measured: 64 MB free needs 72 MB).
  uint64_t mb = uint64_t{free_mb} + free_mb / 16 + 8;
  return (mb + 3) / 4 * 4 * mib;
}

uint64_t free_bytes(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_bsize);
}

}  // namespace nullspace::runtime
