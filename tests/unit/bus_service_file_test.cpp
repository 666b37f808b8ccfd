// Bus service files (src/api/bus_activation.hpp): what a good file gives, and the precise error
// (file:line:column, details) of each kind of bad one.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "api/bus_activation.hpp"

namespace plexus::detail::service_file_test {

TEST(BusServiceFile, AGoodFileGivesNameExecArgsEnvAndTimeout) {
  const auto f = parse_service_file("s.toml", R"(name = "com.example.search"
exec = "/bin/true"
args = ["--label", "x"]
env = { INDEX = "/var/idx", MODE = "fast" }
start_timeout_ms = 2500
)");
  ASSERT_FALSE(f.error) << f.error->to_string();
  EXPECT_EQ(f.name, "com.example.search");
  EXPECT_EQ(f.exec, "/bin/true");
  EXPECT_EQ(f.args, (std::vector<std::string>{"--label", "x"}));
  EXPECT_EQ(f.env, (std::vector<std::string>{"INDEX=/var/idx", "MODE=fast"}));
  EXPECT_EQ(f.start_timeout, std::chrono::milliseconds(2500));
}

struct Bad {
  const char* text;
  const char* message;  // a part of the error's message
  int line;             // 0: the error has no position
};

TEST(BusServiceFile, EachMistakeIsReportedWithItsPlace) {
  const Bad cases[] = {
      {"name = \"a.b\"\nexec = \"/bin/true\"\ncolour = 1\n", "s.toml:3:1: unknown key \"colour\"",
       3},
      {"exec = \"/bin/true\"\n", "\"name\" is missing", 0},
      {"name = \"a.b\"\n", "\"exec\" is missing", 0},
      {"name = \"a.b\"\nexec = \"bin/true\"\n", "must be an absolute path", 2},
      {"name = \"a.b\"\nexec = \"/no/such/file\"\n", "executable /no/such/file is missing", 2},
      {"name = \"nodots\"\nexec = \"/bin/true\"\n", "service name \"nodots\" has one segment", 1},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nstart_timeout_ms = 0\n", "start_timeout_ms", 3},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nargs = [1]\n", "array of strings", 3},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nenv = \"X=1\"\n", "\"env\" must be a table", 3},
      {"name = = \"a.b\"\n", "s.toml:1:", 1},
  };
  for (const auto& c : cases) {
    const auto f = parse_service_file("s.toml", c.text);
    ASSERT_TRUE(f.error) << c.text;
    EXPECT_EQ(f.error->code, StatusCode::failed_precondition) << c.text;
    EXPECT_NE(f.error->message.find(c.message), std::string::npos) << f.error->message;
    const auto details = nlohmann::json::parse(f.error->details);
    EXPECT_EQ(details["file"], "s.toml");
    if (c.line) {
      EXPECT_EQ(details["line"], c.line) << f.error->message;
    } else {
      EXPECT_FALSE(details.contains("line")) << f.error->message;
    }
  }
  // The name is kept when the file says it, so that its calls get the file's error.
  EXPECT_EQ(parse_service_file("s.toml", "name = \"a.b\"\ncolour = 1\n").name, "a.b");
}

}  // namespace plexus::detail::service_file_test
