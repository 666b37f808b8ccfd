// The one way from plexus's I/O threads to the JavaScript thread: events posted from any thread
// run on the JavaScript thread in batches, one wake-up of the event loop per batch (a Node-API
// thread-safe function). Each native object (client, server, stream) owns one.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace plexus_node {

class Mailbox {
 public:
  // Runs on the JavaScript thread, inside a handle scope of its own.
  using Event = std::function<void(napi_env)>;

  // Set once this environment (the process, or a worker thread) is exiting: from then on
  // Node.js closes the thread-safe functions itself.
  using ExitFlag = std::shared_ptr<const std::atomic<bool>>;

  // JavaScript thread. Starts unref'd: an idle object does not keep the process alive.
  static std::shared_ptr<Mailbox> create(napi_env env, const char* name, ExitFlag exiting);
  ~Mailbox();

  // Any thread. After close() the event is dropped (destroyed on the posting thread).
  void post(Event event);

  // JavaScript thread: while at least one hold is taken, the event loop stays alive (a call or
  // stream in flight, a subscription, a listening server).
  void hold();
  void unhold();
  int holds() const { return holds_; }

  // JavaScript thread: runs what is queued now (a closing object uses it to settle its last
  // promises), then releases the thread-safe function; later posts are dropped. Returns the
  // holds that were still taken (now dropped).
  int close() { return shut(true); }
  // The same without running anything: the environment is being torn down.
  int close_silently() { return shut(false); }

 private:
  explicit Mailbox(napi_env env) : env_(env) {}
  static void call_js(napi_env env, napi_value, void* context, void*);
  void run_queued(napi_env env);
  int shut(bool run_queued_events);
  // Refuses further posts and waits for posts still waking the JavaScript thread (a few
  // microseconds at most: napi_call_threadsafe_function does not block when non-blocking).
  void stop_posting();

  napi_env env_;
  ExitFlag exiting_;
  napi_threadsafe_function tsfn_ = nullptr;
  std::mutex mu_;
  std::vector<Event> queued_;  // guarded by mu_
  std::condition_variable no_wakers_;
  int waking_ = 0;             // guarded by mu_: posts calling the thread-safe function now
  bool wake_pending_ = false;  // guarded by mu_: a call_js is on its way
  bool closed_ = false;        // guarded by mu_
  int holds_ = 0;              // JavaScript thread only
};

}  // namespace plexus_node
