// The README's "library in one screen", as a program that runs: a typed method served and called
// in the blocking and callback forms. tests/docs/check_snippets.py checks that every block of
// the README's snippet appears here verbatim, so the README shows code that compiles and runs.
#include <cstdio>
#include <future>

#include <plexus/plexus.hpp>

struct Add {
  int a, b;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Add, a, b)
};
struct Sum {
  int sum;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Sum, sum)
};
constexpr plexus::Method<Add, Sum> kAdd{"calc.add"};

int main() {
  plexus::Runtime runtime;  // owns the I/O thread(s)
  plexus::ServerOptions options;
  options.listen = {"unix:@plexus-one-screen"};  // abstract: no socket file to clean up
  auto server = plexus::Server::create(runtime, options).value();
  plexus::handle(*server, kAdd,
                 [](plexus::CallContext&, Add r) -> plexus::Result<Sum> { return Sum{r.a + r.b}; });
  server->start();

  plexus::ClientOptions copts;
  copts.address = "unix:@plexus-one-screen";
  auto client = plexus::Client::connect(runtime, copts).value();   // Result<unique_ptr<Client>>
  plexus::Result<Sum> s = plexus::call(*client, kAdd, Add{2, 3});  // blocking form
  std::promise<plexus::Result<std::string>> answered;
  client->call_async("calc.add", R"({"a":1,"b":2})", {}, [&](plexus::Result<std::string> r) {
    answered.set_value(std::move(r));  // callback form, on the I/O thread
  });

  const auto callback_answer = answered.get_future().get();
  const bool ok = s && s->sum == 5 && callback_answer && *callback_answer == R"({"sum":3})";
  std::printf("blocking: %d, callback: %s\n", s ? s->sum : -1,
              callback_answer ? callback_answer->c_str() : callback_answer.error().message.c_str());
  return ok ? 0 : 1;
}
