// A message id chosen by its sender (queue sends, acknowledged messages): 128 random bits in
// hex, so that a resend carries the same id and the receiver stores or handles it once.
#pragma once

#include <cstdio>
#include <random>
#include <string>

namespace plexus::detail {

inline std::string random_message_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace plexus::detail
