#include "tools/chaos/records.hpp"

namespace nullspace::chaos {

uint64_t entry_hash(std::string_view json) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : json) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h ? h : 1;
}

std::optional<std::string> records::saw(const std::string& build, uint64_t offset, uint64_t hash) {
  std::lock_guard<std::mutex> g(mtx_);
  ++looks_;
  auto& b = builds_[build];
  if (b.hashes.size() <= offset) b.hashes.resize(offset + 1, 0);
  auto& h = b.hashes[offset];
  if (h == 0) {
    h = hash;
    return std::nullopt;
  }
  if (h == hash) return std::nullopt;
  return "build " + build + " offset " + std::to_string(offset) + ": two looks saw different bytes";
}

void records::saw_terminal(const std::string& build) {
  std::lock_guard<std::mutex> g(mtx_);
  builds_[build].terminal = true;
}

void records::add_build(const std::string& id, int daemon) {
  std::lock_guard<std::mutex> g(mtx_);
  builds_[id].daemon = daemon;
}

size_t records::add_submit(submit_record s) {
  std::lock_guard<std::mutex> g(mtx_);
  submits_.push_back(std::move(s));
  return submits_.size() - 1;
}

void records::acknowledge(size_t submit, const std::string& id) {
  std::lock_guard<std::mutex> g(mtx_);
  submits_[submit].id = id;
  builds_[id].daemon = submits_[submit].daemon;
}

std::vector<submit_record> records::submits() const {
  std::lock_guard<std::mutex> g(mtx_);
  return submits_;
}

submit_record records::submit_at(size_t i) const {
  std::lock_guard<std::mutex> g(mtx_);
  return submits_[i];
}

std::vector<std::string> records::builds(int daemon) const {
  std::lock_guard<std::mutex> g(mtx_);
  std::vector<std::string> out;
  for (auto& [id, b] : builds_)
    if (b.daemon == daemon) out.push_back(id);
  return out;
}

std::vector<std::string> records::live_builds(int daemon) const {
  std::lock_guard<std::mutex> g(mtx_);
  std::vector<std::string> out;
  for (auto& [id, b] : builds_)
    if (b.daemon == daemon && !b.terminal) out.push_back(id);
  return out;
}

build_seen records::build(const std::string& id) const {
  std::lock_guard<std::mutex> g(mtx_);
  auto it = builds_.find(id);
  return it == builds_.end() ? build_seen{} : it->second;
}

void records::set_progress(const std::string& id, uint64_t next_offset, const std::string& status,
                           int still) {
  std::lock_guard<std::mutex> g(mtx_);
  auto& b = builds_[id];
  b.last_next_offset = next_offset;
  b.last_status = status;
  b.still = still;
}

uint64_t records::entries_seen() const {
  std::lock_guard<std::mutex> g(mtx_);
  uint64_t n = 0;
  for (auto& [id, b] : builds_)
    for (auto h : b.hashes) n += h != 0;
  return n;
}

size_t records::add_machine(machine_record_seen m) {
  std::lock_guard<std::mutex> g(mtx_);
  machines_.push_back(std::move(m));
  return machines_.size() - 1;
}

void records::machine_created(size_t i, const std::string& id) {
  std::lock_guard<std::mutex> g(mtx_);
  machines_[i].id = id;
}

void records::machine_deleted(size_t i) {
  std::lock_guard<std::mutex> g(mtx_);
  machines_[i].deleted = true;
}

std::vector<machine_record_seen> records::machines() const {
  std::lock_guard<std::mutex> g(mtx_);
  return machines_;
}

}  // namespace nullspace::chaos
