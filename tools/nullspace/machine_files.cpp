// nullspace machine cp LOCAL ID:PATH | ID:PATH LOCAL: one file into or out of
// a machine (PUT / GET /v1/machines/{id}/files?path=…). An upload keeps the
// local file's permission bits; "-" is stdin or stdout.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "nullspace/ids.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/machine_paths.hpp"
#include "tools/nullspace/paged_list.hpp"
#include "tools/nullspace/terminal.hpp"

namespace fs = std::filesystem;

namespace nullspace::cli {
namespace {

struct remote_path {
  std::string id, path;
};

// "m_…:/abs/path" names a file in a machine; anything else is local (write
// ./m_x:y for a local file whose name looks like that).
std::optional<remote_path> as_remote(const std::string& arg) {
  auto colon = arg.find(':');
  if (colon == std::string::npos || !parse_machine_id(arg.substr(0, colon)).ok())
    return std::nullopt;
  return remote_path{arg.substr(0, colon), arg.substr(colon + 1)};
}

std::string errno_text() {
  return std::strerror(errno);
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The bytes of a local file and its permission bits (nullopt for stdin).
struct local_file {
  std::string bytes;
  std::optional<mode_t> mode;
};

local_file read_local(const std::string& path) {
  local_file f;
  int fd = path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw usage_error("cannot read " + path + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto why = errno_text();
    if (fd != 0) ::close(fd);
    throw usage_error("cannot read " + path + ": " + why);
  }
  if (path != "-") {
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw usage_error(path +
                        " is a directory: machine cp copies one file (copy an archive "
                        "of it and unpack it with machine exec)");
    }
    f.mode = st.st_mode & 07777;
  }
  char buf[65536];
  while (true) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto why = errno_text();
      if (fd != 0) ::close(fd);
      throw usage_error("cannot read " + path + ": " + why);
    }
    if (n == 0) break;
    f.bytes.append(buf, static_cast<size_t>(n));
  }
  if (fd != 0) ::close(fd);
  return f;
}

int upload(const std::string& local, const remote_path& to, const server_options& server) {
  auto path = to.path;
  if (path.ends_with("/")) {
    if (local == "-")
      throw usage_error("name the file to write stdin to: " + to.id + ":" + path + "NAME");
    path += base_name(fs::path(local).lexically_normal().string());
  }
  auto file = read_local(local);
  query_params q{{"path", path}};
  if (file.mode) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(*file.mode));
    q.emplace_back("mode", mode);
  }
  api_client api(server);
  api.put_bytes(machine_path(to.id, "/files" + query(q)), file.bytes);
  return exit_ok;
}

// Writes `bytes` to `target` through a temporary file beside it, so that a
// failure never leaves half a file.
void write_local(const std::string& target, const std::string& bytes) {
  auto dir = fs::path(target).parent_path();
  auto tmp = (dir.empty() ? fs::path(".") : dir) /
             ("." + base_name(target) + ".nullspace-" + std::to_string(::getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw cli_error(exit_failed, "cannot write " + target + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw cli_error(exit_failed, "cannot write " + target + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), target.c_str()) != 0) {
    auto why = errno_text();
    ::unlink(tmp.c_str());
    throw cli_error(exit_failed, "cannot write " + target + ": " + why);
  }
}

int download(const remote_path& from, const std::string& local, const server_options& server) {
  if (from.path.empty() || from.path.ends_with("/"))
    throw usage_error("name a file in the machine: " + from.id + ":/path/to/file");
  std::string target = local;
  std::error_code ec;
  if (local != "-") {
    if (local.ends_with("/") || fs::is_directory(local, ec))
      target = (fs::path(local) / base_name(from.path)).string();
    auto dir = fs::path(target).parent_path();
    if (!dir.empty() && !fs::is_directory(dir, ec))
      throw usage_error("cannot write " + target + ": " + dir.string() + " is not a directory");
  }
  api_client api(server);
  auto bytes = api.get(machine_path(from.id, "/files" + query({{"path", from.path}})));
  if (target == "-")
    terminal::get().out(bytes);
  else
    write_local(target, bytes);
  return exit_ok;
}

}  // namespace

void add_machine_cp_command(CLI::App& machine, app_context& ctx) {
  struct cp_cmd {
    std::string from, to;
  };
  auto c = std::make_shared<cp_cmd>();
  auto* cp = machine.add_subcommand("cp", "Copy a file into or out of a machine");
  cp->add_option("FROM", c->from, "LOCAL or ID:PATH")->required();
  cp->add_option("TO", c->to, "ID:PATH or LOCAL")->required();
  cp->footer(R"(One side is ID:PATH (an absolute path in the machine), the other a local path;
"-" is stdin or stdout. An upload keeps the local file's permission bits; a PATH
ending in / (or a LOCAL directory) gets the other side's file name.
Examples:
  nullspace machine cp ./app.py m_...:/app/app.py
  nullspace machine cp m_...:/app/output.json ./
  tar -cz src | nullspace machine cp - m_...:/tmp/src.tar.gz)");
  cp->callback([&ctx, c] {
    ctx.action = [&ctx, c] {
      auto from = as_remote(c->from), to = as_remote(c->to);
      if (from && to)
        throw usage_error(
            "copy between two machines through a local file (one side must be local)");
      if (!from && !to)
        throw usage_error("one side must be ID:PATH, a file in a machine (e.g. m_...:/tmp/x)");
      auto& remote = from ? *from : *to;
      if (!remote.path.starts_with("/"))
        throw usage_error("the path in " + remote.id + ":" + remote.path +
                          " must be absolute (start with /)");
      return to ? upload(c->from, *to, ctx.server) : download(*from, c->to, ctx.server);
    };
  });
}

}  // namespace nullspace::cli
