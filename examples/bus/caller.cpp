// bus/caller: calls the service bus/provider registered, by its name, through the daemon: one
// call and one stream. Exits 0 when both answered as the provider says they do.
#include <cstdio>
#include <string>
#include <vector>

#include <plexus/plexus.hpp>

int main(int argc, char** argv) {
  plexus::Runtime runtime;
  plexus::ClientOptions options;
  options.address = argc > 1 ? argv[1] : plexus::default_address();
  options.name = "search-caller";
  auto client = plexus::Client::connect(runtime, options);
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.error().to_string().c_str());
    return 1;
  }
  plexus::CallOptions call_options;
  call_options.timeout = plexus::Millis{2000};  // crosses the daemon: the provider sees it too
  auto answer = (*client)->call("com.example.search/query", "plexus", call_options);
  if (!answer) {
    // not_found: no provider owns the name; unavailable: it went away during the call.
    std::fprintf(stderr, "query: %s\n", answer.error().to_string().c_str());
    return 1;
  }
  std::printf("query: %s\n", answer->c_str());

  plexus::Stream suggestions = (*client)->open_stream("com.example.search/suggest", "search");
  std::vector<std::string> items;
  while (auto item = suggestions.read()) {
    if (!*item) break;
    items.push_back(**item);
  }
  const auto outcome = suggestions.outcome();
  if (!outcome || !*outcome) {
    std::fprintf(stderr, "suggest: the stream failed\n");
    return 1;
  }
  for (const auto& s : items) std::printf("suggestion: %s\n", s.c_str());
  return *answer == "results for plexus" && items.size() == 3 ? 0 : 1;
}
