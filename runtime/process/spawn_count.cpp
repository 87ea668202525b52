#include "runtime/process/spawn_count.hpp"

#include <atomic>

namespace nullspace::runtime {
namespace {
std::atomic<uint64_t> started{0};
}  // namespace

void note_process_started() {
  started.fetch_add(1, std::memory_order_relaxed);
}

uint64_t processes_started() {
  return started.load(std::memory_order_relaxed);
}

}  // namespace nullspace::runtime
