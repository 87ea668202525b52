#include "api/loop_bridge.hpp"

#include <caf/actor_companion.hpp>
#include <caf/all.hpp>
#include <caf/scoped_execution_unit.hpp>

namespace nullspace::api {

using run_atom = caf::atom_constant<caf::atom("run")>;

}  // namespace nullspace::api

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::api::loop_task)

namespace nullspace::api {

struct loop_bridge_state {
  explicit loop_bridge_state(caf::actor_system& sys) : unit(&sys) {}
  caf::scoped_execution_unit unit;
  caf::strong_actor_ptr companion;  // null once closed
  uv_async_t async{};
  std::mutex mtx;
  std::deque<caf::mailbox_element_ptr> inbox;
  caf::actor handle;  // for post(); reset under mtx at close
  bool closed = false;

  caf::actor_companion* self() {
    return static_cast<caf::actor_companion*>(caf::actor_cast<caf::abstract_actor*>(companion));
  }

  void drain() {  // loop thread
    std::deque<caf::mailbox_element_ptr> batch;
    {
      std::lock_guard<std::mutex> g(mtx);
      batch.swap(inbox);
    }
    for (auto& m : batch)
      if (companion) self()->activate(&unit, *m);
  }
};

loop_bridge::loop_bridge(caf::actor_system& sys, uv_loop_t* loop)
    : st_(std::make_shared<state>(sys)) {
  auto* st = st_.get();
  st->async.data = st;
  uv_async_init(loop, &st->async, [](uv_async_t* h) { static_cast<state*>(h->data)->drain(); });
  st->companion = caf::actor_cast<caf::strong_actor_ptr>(sys.spawn<caf::actor_companion>());
  st->handle = caf::actor_cast<caf::actor>(st->companion);
  st->self()->on_enqueue([st](caf::mailbox_element_ptr ptr) {  // any thread
    {
      std::lock_guard<std::mutex> g(st->mtx);
      if (st->closed) return;
      st->inbox.push_back(std::move(ptr));
    }
    uv_async_send(&st->async);
  });
  st->self()->become([](run_atom, const loop_task& task) { task(); });
}

loop_bridge::~loop_bridge() {
  close();
}

namespace {
void post_to(loop_bridge_state& st, loop_task task) {
  caf::actor target;
  {
    std::lock_guard<std::mutex> g(st.mtx);
    if (st.closed) return;
    target = st.handle;
  }
  caf::anon_send(target, run_atom::value, std::move(task));
}
}  // namespace

void loop_bridge::post(loop_task task) {
  post_to(*st_, std::move(task));
}

loop_poster loop_bridge::poster() const {
  loop_poster p;
  p.st_ = st_;
  return p;
}

void loop_poster::post(loop_task task) const {
  if (st_) post_to(*st_, std::move(task));
}

void loop_bridge::close() {
  auto* st = st_.get();
  if (!st->companion) return;
  std::deque<caf::mailbox_element_ptr> dropped;
  {
    std::lock_guard<std::mutex> g(st->mtx);
    st->closed = true;
    st->handle = nullptr;
    dropped.swap(st->inbox);
  }
  st->self()->on_enqueue(nullptr);
  st->self()->cleanup(caf::error{}, &st->unit);
  st->companion = nullptr;
  // The state outlives the handle's close callback.
  st->async.data = new std::shared_ptr<state>(st_);
  uv_close(reinterpret_cast<uv_handle_t*>(&st->async),
           [](uv_handle_t* h) { delete static_cast<std::shared_ptr<state>*>(h->data); });
}

}  // namespace nullspace::api
