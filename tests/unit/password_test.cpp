#include <catch2/catch.hpp>

#include "common/password.hpp"

using namespace sluice;

// Known hashes made outside our code: SHA512-crypt by `openssl passwd -6`
// (OpenSSL's own implementation), the others by Python's crypt module, and
// the bcrypt "U*U" vector from Openwall's crypt_blowfish test suite.
TEST_CASE("password: known hashes verify", "[password]") {
  CHECK(password::verify("correct horse",
                         "$6$8Hx2Tq9mZ$peodY/qyHTuutrXkh8eB1TNEQYvNHq6F6l5//dLJ4f5ArmjuZF1I6TJ4wvVTDMCOyHayLuCeSo7lKlZSmn1tG/"));
  CHECK(password::verify("correct horse", "$y$j9T$abcdefghijklmnopqrstu1$HZ8mcCBaXDWmMfDHc6srTC.EUNg5x04Ly/TYQCr34R."));
  CHECK(password::verify("pässwörd", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$UAi3w.V1khOnmiQzfq00d7LaG6KfSe9MVbNef5kSs64"));
  CHECK(password::verify("correct horse", "$2b$04$OEpSWf8vPiZQj8TFPdfK2.FqYctR.ZPwO/oYygfAINy.JNTDa55ji"));
  CHECK(password::verify("correct horse", "$2y$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"));
  CHECK(password::verify("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
}

TEST_CASE("password: wrong passwords and bad hashes never verify", "[password]") {
  const char* y = "$y$j9T$abcdefghijklmnopqrstu1$HZ8mcCBaXDWmMfDHc6srTC.EUNg5x04Ly/TYQCr34R.";
  CHECK_FALSE(password::verify("correct horsE", y));
  CHECK_FALSE(password::verify("", y));
  CHECK_FALSE(password::verify("correct horse ", y));
  CHECK_FALSE(password::verify("", ""));
  CHECK_FALSE(password::verify("anything", ""));
  CHECK_FALSE(password::verify("x", "!"));
  CHECK_FALSE(password::verify("x", "*"));
  CHECK_FALSE(password::verify("x", "!$y$j9T$abcdefghijklmnopqrstu1$HZ8mcCBaXDWmMfDHc6srTC.EUNg5x04Ly/TYQCr34R."));
  // Truncated or altered hashes.
  CHECK_FALSE(password::verify("correct horse", std::string(y).substr(0, 40)));
  CHECK_FALSE(password::verify("correct horse", std::string(y) + "x"));
  CHECK_FALSE(password::verify("correct horse", "$y$"));
  CHECK_FALSE(password::verify("correct horse", "$6$"));
  // Legacy DES ("abJnggxhB/yWI" is crypt("test","ab")) is refused on purpose.
  CHECK_FALSE(password::verify("test", "abJnggxhB/yWI"));
  // A NUL would truncate the password inside crypt(3).
  CHECK_FALSE(password::verify(std::string("correct horse\0x", 15), y));
}

TEST_CASE("password: hash() makes salted yescrypt that verifies", "[password]") {
  std::string a = password::hash("s3cret");
  std::string b = password::hash("s3cret");
  REQUIRE(a.rfind("$y$", 0) == 0);
  CHECK(a != b);  // fresh salt each time
  CHECK(password::verify("s3cret", a));
  CHECK(password::verify("s3cret", b));
  CHECK_FALSE(password::verify("s3creT", a));
  std::string s6 = password::hash_with("pw", "$6$");
  REQUIRE(s6.rfind("$6$", 0) == 0);
  CHECK(password::verify("pw", s6));
  std::string b2 = password::hash_with("pw", "$2b$");
  REQUIRE(b2.rfind("$2b$", 0) == 0);
  CHECK(password::verify("pw", b2));
  CHECK(password::hash_with("pw", "$nonsense$").empty());
  CHECK(password::hash(std::string("a\0b", 3)).empty());
}
