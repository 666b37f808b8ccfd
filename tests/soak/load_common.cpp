#include "load.hpp"

#include <future>

namespace plexus::soak {

std::unique_ptr<Client> connect_client(const LoadContext& load, const std::string& name) {
  ClientOptions options;
  options.address = load.address;
  options.name = name;
  options.reconnect.enabled = false;
  auto client = Client::connect(load.runtime, options);
  if (!client) {
    load.tally.unexpected(name + ": connect: " + client.error().to_string());
    return nullptr;
  }
  return std::move(*client);
}

std::string echo_mismatch(std::string_view sent, std::string_view answer) {
  if (sent == answer) return {};
  std::size_t i = 0;
  while (i < sent.size() && i < answer.size() && sent[i] == answer[i]) ++i;
  return "sent " + std::to_string(sent.size()) + " bytes, got " + std::to_string(answer.size()) +
         " back, first difference at byte " + std::to_string(i);
}

std::optional<Result<std::optional<std::string>>> read_within(Stream& stream, Millis timeout) {
  using ReadResult = Result<std::optional<std::string>>;
  auto promise = std::make_shared<std::promise<ReadResult>>();  // a late read may outlive this
  auto done = promise->get_future();
  stream.start_read([promise](ReadResult r) { promise->set_value(std::move(r)); });
  if (done.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return done.get();
}

}  // namespace plexus::soak
