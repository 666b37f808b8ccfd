#include "transport/spool/spool_layout.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include "platform/posix/files.hpp"
#include "platform/posix/process.hpp"
#include "wire/names.hpp"

namespace plexus::transport::spool {
namespace {

std::atomic<std::uint64_t> g_counter{0};

}  // namespace

std::string Layout::message_path(std::string_view id) const {
  return messages + "/" + std::string(id) + std::string(kMessageSuffix);
}
std::string Layout::wait_path(std::string_view id) const {
  return messages + "/" + std::string(kWaitPrefix) + std::string(id) + std::string(kMessageSuffix);
}
std::string Layout::ack_path(std::string_view id) const {
  return acks + "/" + std::string(id) + std::string(kAckSuffix);
}
std::string Layout::error_path(std::string_view name) const {
  return errors + "/" + std::string(name);
}
std::string Layout::reason_path(std::string_view name) const {
  return errors + "/" + std::string(name) + std::string(kReasonSuffix);
}
std::string Layout::temp_path(const std::string& dir, std::string_view id) const {
  char tail[40];
  std::snprintf(tail, sizeof tail, "-%d-%llu", static_cast<int>(platform::current_pid()),
                static_cast<unsigned long long>(g_counter.fetch_add(1)));
  return dir + "/" + std::string(kTempPrefix) + std::string(id) + tail;
}

bool valid_id(std::string_view id) {
  return wire::valid_name(id) && id.front() != '.';
}

Result<void> validate_id(std::string_view id) {
  if (auto ok = wire::validate_name(id, "message id"); !ok) return ok;
  if (id.front() == '.') {
    return make_error(StatusCode::invalid_argument,
                      "bad message id \"" + std::string(id) + "\": it must not start with '.'");
  }
  return {};
}

Result<std::string> spool_root(std::string_view text) {
  const std::string original(text);
  std::string_view path = text;
  const std::string prefix = std::string(kScheme) + "://";
  if (path.starts_with(prefix)) path.remove_prefix(prefix.size());
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  auto bad = [&](std::string why) {
    return make_error(StatusCode::invalid_argument,
                      "bad spool directory \"" + original + "\": " + std::move(why));
  };
  if (path.empty() || path.front() != '/') {
    return bad("expected an absolute path (dir:///path/group)");
  }
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::string_view last;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    const auto slash = path.find('/', pos);
    const auto part = path.substr(pos, slash == std::string_view::npos ? path.npos : slash - pos);
    if (part == "." || part == "..") return bad("'.' and '..' are not allowed in the path");
    if (part.empty() && slash != std::string_view::npos) return bad("empty path component");
    last = part;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  if (!valid_name(last)) {
    return bad(
        "the group (the last component) must be 1..128 characters of [A-Za-z0-9._-], not \".\", no "
        "\"..\"");
  }
  return std::string(path);
}

Result<Layout> open_layout(const std::string& root, bool create) {
  Layout l;
  l.root = root;
  l.group = root.substr(root.rfind('/') + 1);
  l.messages = root + "/messages";
  l.acks = root + "/acks";
  l.errors = root + "/errors";
  for (const std::string* dir : {&l.messages, &l.acks, &l.errors}) {
    if (create) {
      if (auto made = platform::make_directories(*dir); !made) return tl::unexpected(made.error());
    } else if (!platform::path_exists(*dir)) {
      return make_error(StatusCode::not_found,
                        "no spool directory at " + root + " (" + *dir + " is missing)");
    }
  }
  return l;
}

std::optional<std::string> id_of(std::string_view file_name, std::string_view suffix) {
  if (!file_name.ends_with(suffix)) return std::nullopt;
  file_name.remove_suffix(suffix.size());
  if (!valid_id(file_name)) return std::nullopt;
  return std::string(file_name);
}

std::string new_message_id() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%013lld-%08x-%08llx-%08x", static_cast<long long>(ms),
                static_cast<unsigned>(platform::current_pid()),
                static_cast<unsigned long long>(g_counter.fetch_add(1) & 0xffffffffu),
                static_cast<unsigned>(rng()));
  return buf;
}

}  // namespace plexus::transport::spool
