// bus/provider: a service on the local bus. It connects to a `plexus serve` daemon, serves
// com.example.search/query and the stream com.example.search/suggest, registers the name
// com.example.search, and serves until SIGINT or SIGTERM. bus/caller calls it by name.
// Run: plexus serve & ./bus_provider & ./bus_caller   (or give both an address)
#include <signal.h>

#include <cstdio>
#include <string>

#include <plexus/plexus.hpp>

int main(int argc, char** argv) {
  // Blocked before any thread starts, so that sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  plexus::Runtime runtime;
  plexus::ClientOptions options;
  options.address = argc > 1 ? argv[1] : plexus::default_address();
  options.name = "search-provider";
  options.wait_for_server = plexus::Millis{10000};  // the daemon may still be starting
  auto client = plexus::Client::connect(runtime, options);
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.error().to_string().c_str());
    return 1;
  }
  // The methods, under the service's name: the daemon forwards "com.example.search/query" here.
  (*client)->handle(
      "com.example.search/query",
      [](plexus::CallContext&, std::string_view query) -> plexus::Result<std::string> {
        return "results for " + std::string(query);
      });
  (*client)->handle_stream("com.example.search/suggest",
                           [](plexus::CallContext&, std::string prefix,
                              plexus::Stream out) -> asio::awaitable<plexus::Result<std::string>> {
                             for (const char* tail : {"ing", "er", "s"}) {
                               const std::string item = prefix + tail;
                               auto written = co_await out.async_write(item, asio::use_awaitable);
                               if (!written) co_return tl::unexpected(written.error());
                             }
                             co_return std::string("3 suggestions");
                           });
  // Refused (already_exists) if another provider owns the name; RegisterOptions{.queue = true}
  // would wait for it instead.
  auto name = plexus::register_service(**client, "com.example.search");
  if (!name) {
    std::fprintf(stderr, "register: %s\n", name.error().to_string().c_str());
    return 1;
  }
  std::printf("registered com.example.search\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;  // the name is released with `name`, and with the connection
}
