#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "admin/start/runtime.hpp"

using namespace sluice;
using namespace sluice::start;

TEST_CASE("sluice-start lock: a second holder is refused, temporarily") {
  char tmpl[] = "/tmp/sluice-start-lock-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = tmpl;
  {
    auto first = lock_instance(dir);
    REQUIRE(first.ok());
    auto second = lock_instance(dir);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().is_temp());
    CHECK(second.error().text.find("another sluice-start") != std::string::npos);
  }
  CHECK(lock_instance(dir).ok());  // released with its fd
  unlink((dir + "/sluice-start.lock").c_str());
  rmdir(dir.c_str());
}

TEST_CASE("sluice-start pool socket: SOCK_SEQPACKET, 0600, replaces a stale file") {
  char tmpl[] = "/tmp/sluice-start-sock-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string path = std::string(tmpl) + "/local.sock";
  auto stale = make_unix_listener(path, std::nullopt);
  REQUIRE(stale.ok());
  stale->reset();  // the file stays behind, as after a crash
  auto fd = make_unix_listener(path, std::nullopt);
  REQUIRE(fd.ok());
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  int type = 0;
  socklen_t len = sizeof type;
  REQUIRE(getsockopt(fd->get(), SOL_SOCKET, SO_TYPE, &type, &len) == 0);
  CHECK(type == SOCK_SEQPACKET);
  // A client connects and one record stays one record.
  int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path.c_str(), path.size());
  REQUIRE(connect(c, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) == 0);
  close(c);
  CHECK_FALSE(make_unix_listener(std::string(tmpl) + "/" + std::string(120, 'x'), std::nullopt).ok());
  unlink(path.c_str());
  rmdir(tmpl);
}
