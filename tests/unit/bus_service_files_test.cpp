// Service files of bus activation (src/api/bus_service_files.*): what a file may say, the error
// for each way it can be wrong, and how directories combine.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "api/bus_service_files.hpp"

namespace plexus::test::bus_service_files {
namespace {

namespace fs = std::filesystem;
using bus::load_service_catalog;
using bus::parse_service_file;

TEST(BusServiceFile, ReadsEveryKey) {
  auto file = parse_service_file(R"(
name = "com.example.search"
exec = "/usr/lib/example/search"
args = ["--index", "/var/lib/index"]
env = { SEARCH_THREADS = "2", LANG = "C" }
start_timeout_ms = 2500
)",
                                 "search.toml");
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->name, "com.example.search");
  EXPECT_EQ(file->exec, "/usr/lib/example/search");
  EXPECT_EQ(file->args, (std::vector<std::string>{"--index", "/var/lib/index"}));
  EXPECT_EQ(file->env, (std::vector<std::string>{"LANG=C", "SEARCH_THREADS=2"}));  // sorted
  EXPECT_EQ(file->start_timeout.count(), 2500);
  EXPECT_EQ(file->path, "search.toml");
}

TEST(BusServiceFile, DefaultsTheRest) {
  auto file = parse_service_file("name = \"a.b\"\nexec = \"/bin/true\"\n", "f.toml");
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_TRUE(file->args.empty());
  EXPECT_TRUE(file->env.empty());
  EXPECT_EQ(file->start_timeout.count(), 10000);
}

// Each wrong file gets invalid_argument naming the file, the line and what is wrong.
TEST(BusServiceFile, SaysWhatIsWrongAndWhere) {
  const struct {
    const char* text;
    const char* says;
  } cases[] = {
      {"name = \"a.b\"\nexec = \"/bin/true\"\nrestart = true\n",
       "f.toml:3:1: unknown key \"restart\""},
      {"exec = \"/bin/true\"\n", "no \"name\""},
      {"name = \"a.b\"\n", "no \"exec\""},
      {"name = \"a/b\"\nexec = \"/bin/true\"\n", "service name"},
      {"name = \"a.b\"\nexec = \"bin/true\"\n", "must be an absolute path"},
      {"name = 7\nexec = \"/bin/true\"\n", "\"name\" must be a string"},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nargs = \"-v\"\n", "\"args\" must be an array"},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nargs = [1]\n", "\"args\" must be a string"},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nenv = [\"K=V\"]\n", "\"env\" must be a table"},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nstart_timeout_ms = 0\n", "from 1 to 600000"},
      {"name = \"a.b\"\nexec = \"/bin/true\"\nstart_timeout_ms = \"5s\"\n", "from 1 to 600000"},
      {"name = \"a.b\"\nexec = ", "f.toml:2:"},
  };
  for (const auto& c : cases) {
    auto file = parse_service_file(c.text, "f.toml");
    ASSERT_FALSE(file) << c.text;
    EXPECT_EQ(file.error().code, StatusCode::invalid_argument) << c.text;
    EXPECT_NE(file.error().message.find(c.says), std::string::npos)
        << c.text << " → " << file.error().message;
    EXPECT_EQ(file.error().message.rfind("f.toml:", 0), 0u) << file.error().message;
  }
}

class ServiceDirs : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/plexus-services-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    fs::create_directories(root_ / "user");
    fs::create_directories(root_ / "system");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& relative, const std::string& text) {
    std::ofstream(root_ / relative) << text;
  }
  std::vector<std::string> dirs() const {
    return {(root_ / "user").string(), (root_ / "missing").string(), (root_ / "system").string()};
  }
  fs::path root_;
};

TEST_F(ServiceDirs, TheFirstDirectoryWinsAndBrokenFilesAreListed) {
  write("user/search.toml", "name = \"com.example.search\"\nexec = \"/opt/mine/search\"\n");
  write("system/search.toml", "name = \"com.example.search\"\nexec = \"/usr/lib/search\"\n");
  write("system/mail.toml", "name = \"com.example.mail\"\nexec = \"/usr/lib/mail\"\n");
  write("system/bad.toml", "name = \"com.example.bad\"\nexec = \"/usr/lib/bad\"\nwho = 1\n");
  write("system/notes.txt", "not a service file");
  write("user/twice.toml", "name = \"com.example.mail\"\nexec = \"/opt/mine/mail\"\n");
  write("user/twice2.toml", "name = \"com.example.mail\"\nexec = \"/opt/other/mail\"\n");

  const auto catalog = load_service_catalog(dirs());
  ASSERT_EQ(catalog.services.size(), 2u);
  EXPECT_EQ(catalog.services.at("com.example.search").exec, "/opt/mine/search");
  EXPECT_EQ(catalog.services.at("com.example.mail").exec, "/opt/mine/mail");
  // The broken file: listed, and its name answers with its error.
  ASSERT_TRUE(catalog.broken.contains("com.example.bad"));
  EXPECT_NE(catalog.broken.at("com.example.bad").message.find("unknown key \"who\""),
            std::string::npos);
  // The second file for one name in one directory: listed and ignored.
  ASSERT_EQ(catalog.problems.size(), 2u);
  bool saw_twice = false;
  for (const auto& p : catalog.problems) {
    saw_twice = saw_twice ||
                p.message.find("twice2.toml: com.example.mail is provided by") != std::string::npos;
  }
  EXPECT_TRUE(saw_twice);
}

TEST_F(ServiceDirs, NoDirectoriesNoServices) {
  const auto catalog = load_service_catalog({(root_ / "nothing").string()});
  EXPECT_TRUE(catalog.services.empty());
  EXPECT_TRUE(catalog.problems.empty());
}

TEST(BusServiceDirs, TheUsersConfigComesFirst) {
  const auto dirs = bus::default_service_dirs();
  ASSERT_GE(dirs.size(), 2u);
  EXPECT_EQ(dirs.back(), "/usr/share/plexus/services");
  EXPECT_NE(dirs.front().find("plexus/services"), std::string::npos);
}

}  // namespace
}  // namespace plexus::test::bus_service_files
