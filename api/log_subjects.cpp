#include "api/log_subjects.hpp"

namespace nullspace::api {

log_subject machine_log_subject(engine& eng, const machine_view& machine, const tenant_id& tenant) {
  log_subject s;
  s.kind = "machine";
  s.json = machine.json();
  s.ended = is_terminal(machine.record.state);
  auto id = machine.id();
  s.read = [&eng, id, tenant](uint64_t from, size_t limit) {
    return eng.read_machine_log(id, log_offset(from), limit, tenant);
  };
  s.follow = [&eng, id, tenant](uint64_t from, log_subject::entries_fn on_entries,
                                log_subject::end_fn on_end) {
    machine_follow_callbacks cb;
    cb.on_entries = std::move(on_entries);
    cb.on_end = [on_end = std::move(on_end)](const machine_view& v) { on_end(v.json()); };
    return eng.follow_machine(id, log_offset(from), std::move(cb), tenant);
  };
  return s;
}

log_subject pool_log_subject(engine& eng, const pool_view& pool, const tenant_id& tenant) {
  log_subject s;
  s.kind = "warm_pool";
  s.json = pool.json();
  auto id = pool.record.id;
  s.read = [&eng, id, tenant](uint64_t from, size_t limit) {
    return eng.read_pool_log(id, log_offset(from), limit, tenant);
  };
  s.follow = [&eng, id, tenant](uint64_t from, log_subject::entries_fn on_entries,
                                log_subject::end_fn on_end) {
    pool_follow_callbacks cb;
    cb.on_entries = std::move(on_entries);
    cb.on_end = [on_end = std::move(on_end)](const pool_view& v) { on_end(v.json()); };
    return eng.follow_pool(id, log_offset(from), std::move(cb), tenant);
  };
  return s;
}

}  // namespace nullspace::api
