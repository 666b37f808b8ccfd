#include "transport/spool/spool_census.hpp"

#include <algorithm>

#include "platform/posix/files.hpp"
#include "platform/posix/process.hpp"

namespace plexus::transport::spool {
namespace {

bool temporary(const std::string& name) {
  return name.starts_with(kTempPrefix);
}

bool stale(WallTime modified, WallTime now) {
  return now - modified > kStaleTempAge;
}

}  // namespace

void FileCount::add(WallTime modified, WallTime now) {
  const auto age = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(now - modified),
                            std::chrono::milliseconds(0));
  oldest_age = count == 0 ? age : std::max(oldest_age, age);
  ++count;
}

Result<Census> take_census(const Layout& layout, WallTime now) {
  Census c;
  auto messages = platform::list_directory_times(layout.messages);
  if (!messages) return tl::unexpected(messages.error());
  auto acks = platform::list_directory_times(layout.acks);
  if (!acks) return tl::unexpected(acks.error());
  auto errors = platform::list_directory_times(layout.errors);
  if (!errors) return tl::unexpected(errors.error());
  // A temporary file, counted wherever it is; false for every other name.
  auto temp = [&](const platform::DirectoryEntry& e) {
    if (!temporary(e.name)) return false;
    c.temporary.add(e.modified, now);
    if (stale(e.modified, now)) ++c.stale_temporary;
    return true;
  };
  for (const auto& e : *messages) {
    if (temp(e)) continue;
    if (e.name.starts_with(kWaitPrefix)) {
      c.waiting.add(e.modified, now);
    } else if (!e.name.starts_with('.')) {
      c.ready.add(e.modified, now);
    }
  }
  for (const auto& e : *acks) {
    if (!temp(e) && !e.name.starts_with('.')) c.acks.add(e.modified, now);
  }
  for (const auto& e : *errors) {
    if (temp(e) || e.name.starts_with('.') || e.name.ends_with(kReasonSuffix)) continue;
    c.errors.add(e.modified, now);
  }
  return c;
}

std::uint64_t remove_stale_temps(const Layout& layout, WallTime now) {
  std::uint64_t removed = 0;
  for (const std::string* dir : {&layout.messages, &layout.acks, &layout.errors}) {
    auto entries = platform::list_directory_times(*dir);
    if (!entries) continue;
    for (const auto& e : *entries) {
      if (!temporary(e.name) || !stale(e.modified, now)) continue;
      if (platform::remove_file(*dir + "/" + e.name)) ++removed;
    }
  }
  return removed;
}

}  // namespace plexus::transport::spool
