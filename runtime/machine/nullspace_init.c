/* nullspace-init: PID 1 of a machine container (runtime/machine/container_driver.cpp).
 *
 *   nullspace-init [--output-fd N] [--status-fd N] [--env-fd N] [--user UID:GID]
 *                  [--stop-signal N]
 *                  [-- ARGV...]
 *
 * - With --env-fd: reads "K=V\0…" from it (a memfd: the request's envs, which
 *   may be credentials and so are kept out of config.json) and re-executes
 *   itself with them added to its environment. Init's environment then holds
 *   them in memory only: the start command inherits them, and the driver
 *   reads them back from /proc/<init>/environ after an engine restart.
 * - Starts ARGV (the template's start command, `/bin/sh -c …`), if given, as
 *   UID:GID in its own session and process group, with stdin from /dev/null
 *   and stdout+stderr appended to --output-fd (a host file the runtime passed
 *   in with --preserve-fds). Its environment and working dir are init's own.
 * - Records what the start command is doing in --status-fd, a host file the
 *   driver reads: one line, space-padded to a fixed width so a reader never
 *   sees a half-written record: "running <pid>", "exited <status>",
 *   "signaled <signal>", or "none" without a start command.
 * - Reaps every orphan reparented to it, and keeps running after the start
 *   command ends (or without one): the machine stays up until it is stopped.
 * - On SIGTERM (or SIGINT) sends SIGTERM to every other process of the
 *   container (kill(-1) from PID 1 of a PID namespace) and exits once none is
 *   left. With --stop-signal (the template's STOPSIGNAL) the start command's
 *   process group gets that signal instead, as Docker sends STOPSIGNAL to a
 *   container's main process, and every other process SIGTERM. The driver
 *   sends SIGKILL after its grace period if that takes long.
 *
 * Plain C, linked statically and built without sanitizers (see meson.build):
 * it runs inside images that have no libc of ours, bound read-only into the
 * container.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { status_width = 64 };

static int status_fd = -1;

static void record(const char* text) {
  char line[status_width];
  size_t n = strlen(text);
  if (n > status_width - 1) n = status_width - 1;
  memset(line, ' ', sizeof line);
  memcpy(line, text, n);
  line[status_width - 1] = '\n';
  if (status_fd >= 0) {
    ssize_t rc = pwrite(status_fd, line, sizeof line, 0);
    (void)rc;
  }
}

static int parse_fd(const char* s) {
  char* end = NULL;
  long v = strtol(s, &end, 10);
  return (end && *end == '\0' && v >= 0 && v < 1024) ? (int)v : -1;
}

/* Any process of the container besides this one (numeric entries of the
 * container's /proc other than 1)? Without a readable /proc, whether init
 * still has children. */
static int others_left(void) {
  DIR* d = opendir("/proc");
  if (!d) return waitpid(-1, NULL, WNOHANG) == 0;
  int found = 0;
  struct dirent* e;
  while (!found && (e = readdir(d)) != NULL) {
    char* end = NULL;
    long pid = strtol(e->d_name, &end, 10);
    if (end && *end == '\0' && pid > 1) found = 1;
  }
  closedir(d);
  return found;
}

/* SIGTERM to every process of the container but init and the process group
 * `spared`. */
static void term_others(pid_t spared) {
  DIR* d = opendir("/proc");
  if (!d) return;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    char* end = NULL;
    long pid = strtol(e->d_name, &end, 10);
    if (!end || *end != '\0' || pid <= 1) continue;
    if (getpgid((pid_t)pid) == spared) continue;
    kill((pid_t)pid, SIGTERM);
  }
  closedir(d);
}

static pid_t start(char** argv, int output_fd, uid_t uid, gid_t gid) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setsid();
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0 && null_fd != 0) {
    dup2(null_fd, 0);
    close(null_fd);
  }
  if (output_fd >= 0) {
    dup2(output_fd, 1);
    dup2(output_fd, 2);
  }
  if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
    dprintf(2, "nullspace-init: cannot switch to user %u:%u: %s\n", (unsigned)uid, (unsigned)gid,
            strerror(errno));
    _exit(126);
  }
  execvp(argv[0], argv);
  dprintf(2, "nullspace-init: cannot start %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Reads all of fd into a NUL-terminated buffer (NULL on failure). */
static char* read_all(int fd, size_t* size) {
  size_t cap = 4096, n = 0;
  char* buf = malloc(cap + 1);
  for (;;) {
    if (!buf) return NULL;
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      free(buf);
      return NULL;
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n == cap) {
      cap *= 2;
      char* bigger = realloc(buf, cap + 1);
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  buf[n] = '\0';
  *size = n;
  return buf;
}

/* Re-executes init with the envs read from env_fd added to its environment
 * and --env-fd N left out of its arguments. Returns only on failure. */
static void reexec_with_envs(int argc, char** argv, int env_fd) {
  size_t size = 0;
  char* data = read_all(env_fd, &size);
  close(env_fd);
  if (!data) return;
  for (size_t at = 0; at < size;) {
    char* entry = data + at;
    size_t len = strlen(entry);
    char* eq = strchr(entry, '=');
    if (eq && eq != entry) {
      *eq = '\0';
      setenv(entry, eq + 1, 1);
    }
    at += len + 1;
  }
  char** args = calloc((size_t)argc + 1, sizeof *args);
  if (!args) return;
  int n = 0;
  for (int i = 0; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      for (; i < argc; ++i) args[n++] = argv[i];
      break;
    }
    if (strcmp(argv[i], "--env-fd") == 0 && i + 1 < argc) {
      ++i;
      continue;
    }
    args[n++] = argv[i];
  }
  args[n] = NULL;
  execv("/proc/self/exe", args);
}

int main(int argc, char** argv) {
  int output_fd = -1;
  uid_t uid = 0;
  gid_t gid = 0;
  int stop_signal = 0;
  char** command = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      if (i + 1 < argc) command = argv + i + 1;
      break;
    } else if (strcmp(argv[i], "--output-fd") == 0 && i + 1 < argc) {
      output_fd = parse_fd(argv[++i]);
    } else if (strcmp(argv[i], "--status-fd") == 0 && i + 1 < argc) {
      status_fd = parse_fd(argv[++i]);
    } else if (strcmp(argv[i], "--stop-signal") == 0 && i + 1 < argc) {
      char* end = NULL;
      long v = strtol(argv[++i], &end, 10);
      if (!end || *end != '\0' || v < 1 || v > 64) {
        dprintf(2, "nullspace-init: bad --stop-signal %s\n", argv[i]);
        return 2;
      }
      stop_signal = (int)v;
    } else if (strcmp(argv[i], "--env-fd") == 0 && i + 1 < argc) {
      int env_fd = parse_fd(argv[++i]);
      if (env_fd >= 0) {
        reexec_with_envs(argc, argv, env_fd);
        /* Still here: exec failed; setenv kept them for the start command. */
        dprintf(output_fd >= 0 ? output_fd : 2,
                "nullspace-init: cannot re-execute with the machine's envs: %s\n", strerror(errno));
      }
    } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
      unsigned u = 0, g = 0;
      if (sscanf(argv[++i], "%u:%u", &u, &g) != 2) {
        dprintf(2, "nullspace-init: bad --user %s\n", argv[i]);
        return 2;
      }
      uid = u;
      gid = g;
    } else {
      dprintf(2, "nullspace-init: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  /* Neither record file reaches the start command or anything it starts. */
  if (output_fd >= 0) fcntl(output_fd, F_SETFD, FD_CLOEXEC);
  if (status_fd >= 0) fcntl(status_fd, F_SETFD, FD_CLOEXEC);

  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigprocmask(SIG_BLOCK, &handled, NULL);

  pid_t child = 0;
  if (command) {
    child = start(command, output_fd, uid, gid);
    char text[status_width];
    if (child < 0) {
      snprintf(text, sizeof text, "exited 127");
      dprintf(output_fd >= 0 ? output_fd : 2, "nullspace-init: fork: %s\n", strerror(errno));
    } else {
      snprintf(text, sizeof text, "running %d", (int)child);
    }
    record(text);
  } else {
    record("none");
  }

  int terminating = 0;
  for (;;) {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != child) continue;
      char text[status_width];
      if (WIFSIGNALED(status))
        snprintf(text, sizeof text, "signaled %d", WTERMSIG(status));
      else
        snprintf(text, sizeof text, "exited %d", WEXITSTATUS(status));
      record(text);
      child = 0;
    }
    if (terminating && !others_left()) return 0;
    siginfo_t info;
    int sig;
    if (terminating) {
      /* Processes started by `exec` are not our children: no SIGCHLD tells
       * when they end, so look again every 50 ms until all are gone. */
      struct timespec tick = {0, 50 * 1000 * 1000};
      sig = sigtimedwait(&handled, &info, &tick);
    } else {
      sig = sigwaitinfo(&handled, &info);
    }
    if ((sig == SIGTERM || sig == SIGINT) && !terminating) {
      terminating = 1;
      if (stop_signal && child > 0) {
        kill(-child, stop_signal); /* the start command leads its own group */
        term_others(child);
      } else {
        kill(-1, SIGTERM);
      }
    }
  }
}
