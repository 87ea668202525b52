#include "api/loop_bridge.hpp"

#include <deque>
#include <mutex>

namespace nullspace::api {

struct loop_bridge_state {
  uv_async_t async{};
  std::mutex mtx;
  std::deque<loop_task> inbox;
  bool closed = false;

  void post(loop_task task) {  // any thread
    {
      std::lock_guard<std::mutex> g(mtx);
      if (closed) return;
      inbox.push_back(std::move(task));
    }
    uv_async_send(&async);
  }

  void drain() {  // loop thread
    std::deque<loop_task> batch;
    {
      std::lock_guard<std::mutex> g(mtx);
      batch.swap(inbox);
    }
    for (auto& task : batch) {
      if (closed) return;  // a task closed the bridge: the rest are dropped
      task();
    }
  }
};

loop_bridge::loop_bridge(uv_loop_t* loop) : st_(std::make_shared<loop_bridge_state>()) {
  auto* st = st_.get();
  st->async.data = st;
  uv_async_init(loop, &st->async,
                [](uv_async_t* h) { static_cast<loop_bridge_state*>(h->data)->drain(); });
}

loop_bridge::~loop_bridge() {
  close();
}

void loop_bridge::post(loop_task task) {
  st_->post(std::move(task));
}

loop_poster loop_bridge::poster() const {
  loop_poster p;
  p.st_ = st_;
  return p;
}

void loop_poster::post(loop_task task) const {
  if (st_) st_->post(std::move(task));
}

void loop_bridge::close() {
  auto* st = st_.get();
  std::deque<loop_task> dropped;
  {
    std::lock_guard<std::mutex> g(st->mtx);
    if (st->closed) return;
    st->closed = true;
    dropped.swap(st->inbox);
  }
  // The state outlives the handle's close callback.
  st->async.data = new std::shared_ptr<loop_bridge_state>(st_);
  uv_close(reinterpret_cast<uv_handle_t*>(&st->async), [](uv_handle_t* h) {
    delete static_cast<std::shared_ptr<loop_bridge_state>*>(h->data);
  });
}

}  // namespace nullspace::api
