// What the harness's clients saw, kept by the harness itself (never read back
// from the server to decide what should be there): every submit and its key,
// every log entry a follower or poller was shown (offset -> hash of its
// bytes), the machines it was given. The invariants are checked against these.
// Thread-safe: every client thread writes here.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::chaos {

// FNV-1a 64 of an entry's bytes (its minified JSON); never 0.
uint64_t entry_hash(std::string_view json);

struct submit_record {
  int daemon = 0;  // which daemon (0: host executor, 1: sandbox)
  std::string name, key, body;
  std::string id;  // "" until a 202 acknowledged it
};

struct build_seen {
  int daemon = 0;
  std::vector<uint64_t> hashes;   // by offset; 0 = not seen yet
  bool terminal = false;          // a client saw it terminal
  uint64_t last_next_offset = 0;  // progress check: log length at the last look
  std::string last_status;
  int still = 0;  // consecutive looks without progress
};

struct machine_record_seen {
  std::string key, body, id;  // id "" until 201
  bool deleted = false;
};

class records {
 public:
  // Returns a violation text if `hash` differs from what another look at this
  // offset saw.
  std::optional<std::string> saw(const std::string& build, uint64_t offset, uint64_t hash);
  void saw_terminal(const std::string& build);
  void add_build(const std::string& id, int daemon);
  size_t add_submit(submit_record s);  // its index
  void acknowledge(size_t submit, const std::string& id);
  std::vector<submit_record> submits() const;
  submit_record submit_at(size_t i) const;
  std::vector<std::string> builds(int daemon) const;
  std::vector<std::string> live_builds(int daemon) const;  // not seen terminal
  build_seen build(const std::string& id) const;
  void set_progress(const std::string& id, uint64_t next_offset, const std::string& status,
                    int still);
  uint64_t entries_seen() const;
  uint64_t looks() const { return looks_; }

  size_t add_machine(machine_record_seen m);
  void machine_created(size_t i, const std::string& id);
  void machine_deleted(size_t i);
  std::vector<machine_record_seen> machines() const;

 private:
  mutable std::mutex mtx_;
  std::vector<submit_record> submits_;
  std::map<std::string, build_seen> builds_;
  std::vector<machine_record_seen> machines_;
  uint64_t looks_ = 0;  // entries shown to a client, counting repeats
};

}  // namespace nullspace::chaos
