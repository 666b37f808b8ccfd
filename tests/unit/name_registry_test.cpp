// The bus's name registry (src/rpc/name_registry.hpp): one owner per name, the queue and its
// promotions, refusals, releases and a connection's end; and the service-name rule
// (wire::validate_service_name).
#include "rpc/name_registry.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "wire/names.hpp"

namespace plexus::rpc::name_registry_test {

struct Claim {
  ClaimantKey key;
  std::string label;
};

const int kA = 0, kB = 0, kC = 0;  // their addresses are the claimants' keys
Claim a{&kA, "a"}, b{&kB, "b"}, c{&kC, "c"};
using Names = NameRegistry<Claim>;

TEST(NameRegistry, FirstClaimantOwnsAndAnnouncesIt) {
  Names names;
  Names::Change change;
  const auto r = names.request("com.example.search", a, false, &change);
  EXPECT_EQ(r.outcome, Names::Outcome::owner);
  EXPECT_EQ(change.name, "com.example.search");
  EXPECT_FALSE(change.old_owner);
  ASSERT_TRUE(change.new_owner);
  EXPECT_EQ(change.new_owner->label, "a");
  ASSERT_NE(names.owner("com.example.search"), nullptr);
  EXPECT_EQ(names.owner("com.example.search")->label, "a");
  EXPECT_EQ(names.owner("com.example.other"), nullptr);
  EXPECT_EQ(names.size(), 1u);
}

TEST(NameRegistry, OwnerRegisteringAgainReplacesItsClaimWithoutAChange) {
  Names names;
  names.request("x.y", a, false, nullptr);
  Names::Change change;
  Claim again{&kA, "a2"};
  const auto r = names.request("x.y", again, false, &change);
  EXPECT_EQ(r.outcome, Names::Outcome::owner);
  EXPECT_FALSE(change.new_owner);  // not a new owner
  EXPECT_EQ(names.owner("x.y")->label, "a2");
}

TEST(NameRegistry, SecondClaimantIsRefusedOrQueuedByItsChoice) {
  Names names;
  names.request("x.y", a, false, nullptr);
  auto refused = names.request("x.y", b, /*queue=*/false, nullptr);
  EXPECT_EQ(refused.outcome, Names::Outcome::refused);
  EXPECT_EQ(refused.owner.label, "a");
  EXPECT_EQ(names.queue_length("x.y"), 0u);
  auto queued = names.request("x.y", b, /*queue=*/true, nullptr);
  EXPECT_EQ(queued.outcome, Names::Outcome::queued);
  EXPECT_EQ(queued.position, 1u);
  auto third = names.request("x.y", c, true, nullptr);
  EXPECT_EQ(third.position, 2u);
  // Asking again keeps the place.
  EXPECT_EQ(names.request("x.y", b, true, nullptr).position, 1u);
  EXPECT_EQ(names.queue_length("x.y"), 2u);
  EXPECT_EQ(names.owner("x.y")->label, "a");
}

TEST(NameRegistry, ReleasePromotesTheFirstInTheQueue) {
  Names names;
  names.request("x.y", a, false, nullptr);
  names.request("x.y", b, true, nullptr);
  names.request("x.y", c, true, nullptr);
  std::optional<Names::Change> change;
  EXPECT_EQ(names.release("x.y", &kA, &change), Names::Released::released);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->old_owner->label, "a");
  EXPECT_EQ(change->new_owner->label, "b");
  EXPECT_EQ(names.owner("x.y")->label, "b");
  EXPECT_EQ(names.queue_length("x.y"), 1u);
}

TEST(NameRegistry, LeavingTheQueueChangesNoOwner) {
  Names names;
  names.request("x.y", a, false, nullptr);
  names.request("x.y", b, true, nullptr);
  std::optional<Names::Change> change;
  EXPECT_EQ(names.release("x.y", &kB, &change), Names::Released::left_queue);
  EXPECT_FALSE(change);
  EXPECT_EQ(names.release("x.y", &kC, &change), Names::Released::not_held);
  EXPECT_EQ(names.release("no.such", &kA, &change), Names::Released::not_held);
  // The last owner's release frees the name.
  EXPECT_EQ(names.release("x.y", &kA, &change), Names::Released::released);
  ASSERT_TRUE(change);
  EXPECT_FALSE(change->new_owner);
  EXPECT_EQ(names.owner("x.y"), nullptr);
  EXPECT_EQ(names.size(), 0u);
}

TEST(NameRegistry, AConnectionsEndGivesUpEveryNameAndQueuePlace) {
  Names names;
  names.request("one.name", a, false, nullptr);
  names.request("two.name", a, false, nullptr);
  names.request("two.name", b, true, nullptr);
  names.request("three.name", c, false, nullptr);
  names.request("three.name", a, true, nullptr);
  const auto changes = names.drop(&kA);
  ASSERT_EQ(changes.size(), 2u);  // one.name freed, two.name to b; a left three.name's queue
  EXPECT_EQ(changes[0].name, "one.name");
  EXPECT_FALSE(changes[0].new_owner);
  EXPECT_EQ(changes[1].name, "two.name");
  EXPECT_EQ(changes[1].new_owner->label, "b");
  EXPECT_EQ(names.owner("three.name")->label, "c");
  EXPECT_EQ(names.queue_length("three.name"), 0u);
  const auto rows = names.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "three.name");
  EXPECT_EQ(rows[1].name, "two.name");
  EXPECT_TRUE(names.drop(&kA).empty());
}

TEST(ServiceNameRule, AcceptsDottedNamesAndRefusesTheRestWithDetails) {
  EXPECT_TRUE(wire::validate_service_name("com.example.search"));
  EXPECT_TRUE(wire::validate_service_name("org.demo_app-2.v1"));
  for (const char* bad : {"", "search", "com..example", ".com.example", "com.example.",
                          "com/example.x", "plexus.bus", "com.exa mple", "a.b/c"}) {
    auto r = wire::validate_service_name(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
    const auto details = nlohmann::json::parse(r.error().details);
    EXPECT_EQ(details["field"], "service name");
    EXPECT_EQ(details["name"], bad);
    EXPECT_NE(r.error().message.find("service name"), std::string::npos);
  }
  EXPECT_FALSE(wire::validate_service_name(std::string(129, 'a') + ".b"));
}

}  // namespace plexus::rpc::name_registry_test
