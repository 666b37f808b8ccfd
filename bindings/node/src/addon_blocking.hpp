// run_blocking's body (addon.hpp).
#pragma once

#include <utility>

namespace plexus_node {

template <typename T>
class BlockingWork final : public Napi::AsyncWorker {
 public:
  BlockingWork(Napi::Env env, std::function<plexus::Result<T>()> work,
               std::function<Napi::Value(Napi::Env, T&)> done)
      : Napi::AsyncWorker(env, "plexus"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (const std::exception& e) {
      result_.emplace(plexus::make_error(plexus::StatusCode::internal, e.what()));
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!*result_) {
      deferred_.Reject(make_error(env, result_->error()));
      return;
    }
    try {
      deferred_.Resolve(done_(env, **result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<plexus::Result<T>()> work_;
  std::function<Napi::Value(Napi::Env, T&)> done_;
  std::optional<plexus::Result<T>> result_;
};

template <typename T>
Napi::Promise run_blocking(Napi::Env env, std::function<plexus::Result<T>()> work,
                           std::function<Napi::Value(Napi::Env, T&)> done) {
  auto* job = new BlockingWork<T>(env, std::move(work), std::move(done));
  Napi::Promise promise = job->promise();
  job->Queue();  // deletes itself once settled
  return promise;
}

}  // namespace plexus_node
