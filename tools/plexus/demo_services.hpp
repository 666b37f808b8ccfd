// The demo services `plexus serve --demo` registers: echo, sleep, fail, count, count_stream,
// fib, and the direct channel echo.direct.
#pragma once

#include <mutex>
#include <thread>
#include <vector>

#include "plexus/direct.hpp"
#include "plexus/handlers.hpp"

namespace plexus::cli {

// echo:  answers with the request bytes unchanged.
// sleep: {"ms":N} answers {"slept_ms":N} after N ms (timer, not a blocked thread); stops early,
//        and answers nothing, when the caller cancels or its deadline passes.
// fail:  {"code":"not_found","message":"…"} fails with that status; {"throw":true} throws.
// count: answers {"count":n}, n counting calls since the server started.
// count_stream (a stream method; `plexus stream`): {"n":N,"delay_ms":D} writes N items
//        {"i":i} with progress total N, waiting D ms between items (default 100, 0..60000);
//        ends with {"sent":N}. Stops when the reader cancels.
// fib:   {"n":0..90} answers {"n":n,"fib":F(n)}; has a JSON Schema and a 10 s response cache.
void register_demo_services(HandlerRegistry& registry);

// echo.direct: a direct channel (plexus/direct.hpp; `plexus ping ADDR --direct`) on which a
// thread of its own sends every message back. The threads are this object's: it must outlive
// the server it is registered on; its destructor closes every channel and joins them.
class DemoDirectEcho {
 public:
  DemoDirectEcho() = default;
  DemoDirectEcho(const DemoDirectEcho&) = delete;
  DemoDirectEcho& operator=(const DemoDirectEcho&) = delete;
  ~DemoDirectEcho();
  void register_on(HandlerRegistry& registry);

 private:
  std::mutex mu_;
  std::vector<DirectChannel> channels_;
  std::vector<std::thread> threads_;
};

}  // namespace plexus::cli
