#include "mailbox.hpp"

#include <atomic>
#include <utility>

namespace plexus_node {

std::shared_ptr<Mailbox> Mailbox::create(napi_env env, const char* name, ExitFlag exiting) {
  std::shared_ptr<Mailbox> box(new Mailbox(env));
  box->exiting_ = std::move(exiting);
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  // No JavaScript function: call_js does the work. Unlimited queue (posts never block an I/O
  // thread; what queues is bounded by what the object has in flight).
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, resource_name, 0, 1, new std::shared_ptr<Mailbox>(box),
      [](napi_env, void* holder, void*) {
        // The function is gone: released by shut(), or closed by Node.js itself at exit.
        auto* box = static_cast<std::shared_ptr<Mailbox>*>(holder);
        (*box)->stop_posting();
        {
          std::lock_guard lock((*box)->mu_);
          (*box)->tsfn_ = nullptr;
        }
        delete box;
      },
      box.get(), &Mailbox::call_js, &box->tsfn_);
  if (status != napi_ok) {
    box->closed_ = true;
    return box;
  }
  napi_unref_threadsafe_function(env, box->tsfn_);
  return box;
}

Mailbox::~Mailbox() = default;

void Mailbox::post(Event event) {
  napi_threadsafe_function wake = nullptr;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;  // the event's captures are destroyed on return, outside the lock
    queued_.push_back(std::move(event));
    // One wake-up per batch: the posts that come while it is on its way ride along.
    if (wake_pending_) return;
    wake_pending_ = true;
    wake = tsfn_;
    ++waking_;
  }
  // Outside the lock, so that the JavaScript thread, once woken, drains without waiting for
  // this thread; stop_posting() waits for this call before the function may be released.
  napi_call_threadsafe_function(wake, nullptr, napi_tsfn_nonblocking);
  std::lock_guard lock(mu_);
  if (--waking_ == 0 && closed_) no_wakers_.notify_all();
}

void Mailbox::stop_posting() {
  std::unique_lock lock(mu_);
  closed_ = true;
  no_wakers_.wait(lock, [this] { return waking_ == 0; });
}

void Mailbox::call_js(napi_env env, napi_value, void* context, void*) {
  // env is null when the function is torn down (close(), or the environment going away); the
  // context is still alive then: the finalizer that frees it runs after the last call_js.
  if (env == nullptr) return;
  static_cast<Mailbox*>(context)->run_queued(env);
}

void Mailbox::run_queued(napi_env env) {
  std::vector<Event> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queued_);
    wake_pending_ = false;
  }
  for (auto& event : batch) {
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    try {
      event(env);
    } catch (const Napi::Error& e) {
      // An exception from JavaScript code an event ran: report it as uncaught, as an
      // EventEmitter listener's would be, and go on with the batch.
      napi_fatal_exception(env, e.Value());
    }
    napi_close_handle_scope(env, scope);
  }
}

void Mailbox::hold() {
  if (holds_++ == 0 && tsfn_ != nullptr && !closed_) napi_ref_threadsafe_function(env_, tsfn_);
}

void Mailbox::unhold() {
  if (holds_ > 0 && --holds_ == 0 && tsfn_ != nullptr && !closed_) {
    napi_unref_threadsafe_function(env_, tsfn_);
  }
}

int Mailbox::shut(bool run_queued_events) {
  if (closed_) return 0;
  if (run_queued_events) run_queued(env_);
  std::vector<Event> dropped;
  napi_threadsafe_function tsfn = nullptr;
  stop_posting();
  {
    std::lock_guard lock(mu_);
    tsfn = std::exchange(tsfn_, nullptr);
    dropped.swap(queued_);
  }
  const int held = std::exchange(holds_, 0);
  // Abort: a wake-up still queued calls call_js with a null env, which runs nothing. Once the
  // process is exiting, Node.js closes every thread-safe function itself (and may be doing so
  // right now, collecting the object that closes this): releasing one then would abort.
  if (tsfn != nullptr && !exiting_->load()) napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  return held;
}

}  // namespace plexus_node
