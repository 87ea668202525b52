#include "tests/test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "storage/common/json_writer.hpp"

namespace nullspace::test {

namespace fs = std::filesystem;

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/nullspace-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string run_request(const std::vector<std::string>& cmds, std::string_view name,
                        std::string_view extra_fields) {
  json::writer steps;
  steps.begin_array();
  for (auto& c : cmds) steps.begin_object().field("type", "run").field("cmd", c).end_object();
  steps.end_array();
  std::string out = "{\"name\":";
  json::append_quoted(out, name);
  out += ",\"builder\":{\"source\":{\"type\":\"python_image\",\"version\":\"3.11\"},\"steps\":" +
         steps.str() + "}";
  if (!extra_fields.empty()) out += "," + std::string(extra_fields);
  out += "}";
  return out;
}

std::string json_quoted(std::string_view s) {
  std::string out;
  json::append_quoted(out, s);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int report_exit(int status, const std::string& err_path) {
  if (status == 0) return 0;
  auto err = read_file(err_path);
  if (err.size() > 16384) err.erase(0, err.size() - 16384);
  std::fprintf(stderr, "nullspaced exited with %d; the end of its stderr:\n%s\n", status,
               err.c_str());
  return status;
}

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

namespace {

// Whether the file holds `needle`: read in chunks (overlapping by the needle's
// length), holes skipped, so a machine's sparse 1 GiB disk image costs only
// its data.
bool file_contains(const std::string& path, std::string_view needle) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string buf(1 << 20, '\0');
  bool found = false;
  off_t end = ::lseek(fd, 0, SEEK_END);
  off_t at = 0;
  while (!found && at < end) {
    off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) break;  // no data after `at`
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = end;
    std::string carry;
    for (off_t pos = data; !found && pos < hole;) {
      auto want = static_cast<size_t>(std::min<off_t>(hole - pos, static_cast<off_t>(buf.size())));
      auto n = ::pread(fd, buf.data(), want, pos);
      if (n <= 0) break;
      std::string window = carry + buf.substr(0, static_cast<size_t>(n));
      found = window.find(needle) != std::string::npos;
      carry = window.substr(window.size() > needle.size() ? window.size() - needle.size() : 0);
      pos += n;
    }
    at = hole;
  }
  ::close(fd);
  return found;
}

}  // namespace

std::vector<std::string> files_containing(const std::string& dir, std::string_view needle) {
  std::vector<std::string> hits;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    if (file_contains(e.path().string(), needle)) hits.push_back(e.path().string());
  }
  return hits;
}

std::string wait_for_output(engine& eng, const std::string& id, const std::string& needle,
                            const std::string& tenant) {
  auto found = std::make_shared<std::promise<std::string>>();
  auto once = std::make_shared<std::once_flag>();
  follow_callbacks cb;
  cb.on_entries = [=](const std::vector<raw_entry>& es) {
    for (auto& r : es) {
      auto e = storage::decode_log_entry(r.json);
      if (e && e->kind == "log" && e->message.find(needle) != std::string::npos)
        std::call_once(*once, [&] { found->set_value(e->message); });
    }
  };
  cb.on_end = [=](const build_view&) {
    std::call_once(*once, [&] { found->set_value("<ended>"); });
  };
  auto h = eng.follow(nullspace::test::as_build_id(id), nullspace::log_offset(0), cb,
                      nullspace::test::as_tenant(tenant));
  if (!h) throw std::runtime_error("follow failed: " + h.error().message);
  auto fut = found->get_future();
  if (fut.wait_for(std::chrono::minutes(2)) != std::future_status::ready)
    throw std::runtime_error("no output line containing '" + needle + "' from " + id);
  return fut.get();
}

bool process_gone(long pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
}

}  // namespace nullspace::test

namespace nullspace::test {

namespace {
template <class T>
T must(result<T> r, const std::string& s) {
  if (!r) throw std::invalid_argument("test id '" + s + "': " + r.error().message);
  return std::move(r.value());
}
}  // namespace

build_id as_build_id(const std::string& s) {
  return must(parse_build_id(s), s);
}
tenant_id as_tenant(const std::string& s) {
  return must(parse_tenant_id(s), s);
}
template_ref as_ref(const std::string& s) {
  return must(parse_template_ref(s), s);
}

}  // namespace nullspace::test
