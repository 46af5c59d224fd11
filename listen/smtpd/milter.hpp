// sluice-smtpd as a milter client (DESIGN.md): the milters of smtpd.milters
// see every SMTP stage of a session, as under Postfix or Sendmail, and may
// refuse it at any stage or edit the message at its end.
//
// One connection per milter per session, opened at connect; each step is
// sent to each milter in turn, and the first that does not say "continue"
// decides. A milter that fails (cannot be reached, times out, answers
// nonsense) is smtpd.milter_default_action: "tempfail" (451 4.7.1 for the
// step, 421 at connect) or "accept" (the milter is left out for the rest
// of the session). Everything a milter says is checked: an edit that would
// break the header (a name with a colon, a fold that starts a new field)
// is dropped and logged.
#pragma once
#include <asio.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "listen/smtpd/command.hpp"
#include "listen/smtpd/milter_proto.hpp"

namespace sluice::smtpd {

struct MilterSpec {
  std::string text;  // as configured, for logs
  bool unix_socket = false;
  std::string host;  // inet: a numeric address or a name
  uint16_t port = 0;
  std::string path;  // unix
};
// "inet:HOST:PORT", "inet:PORT@HOST" (Sendmail's form), "inet6:...",
// "unix:/path" or "local:/path". False on anything else.
bool parse_milter_spec(std::string_view text, MilterSpec& out);

struct MilterSettings {
  std::vector<MilterSpec> milters;  // smtpd.milters
  bool default_accept = false;      // smtpd.milter_default_action = "accept"
  std::chrono::seconds command_timeout{30}, content_timeout{300};
};

// What the milters decided about a step.
struct MilterOutcome {
  enum class Kind { next, reject, tempfail, discard } kind = Kind::next;
  Reply reply;         // for reject and tempfail
  std::string milter;  // which one decided (for the log)
};

// The end of a message: the verdict and the message as edited.
struct MilterMessage {
  MilterOutcome outcome;
  std::string message;                     // LF line endings
  std::vector<std::string> add_rcpts;      // addresses, no angle brackets
  std::vector<std::string> del_rcpts;
  std::optional<std::string> new_sender;
  std::string quarantine;                  // a reason: hold the message
  int edits = 0;
};

// Macro values the milters may ask for.
struct MilterContext {
  std::string hostname, client_ip, helo, auth_user, tls_version, tls_cipher;
  uint16_t client_port = 0;
};

class MilterSession {
 public:
  MilterSession(const MilterSettings& s, MilterContext& ctx) : s_(s), ctx_(ctx) {}
  bool active() const { return !s_.milters.empty(); }

  asio::awaitable<MilterOutcome> connect();
  asio::awaitable<MilterOutcome> helo(const std::string& name);
  // ARGS: "<sender>" then the ESMTP parameters as sent.
  asio::awaitable<MilterOutcome> mail(const std::vector<std::string>& args);
  asio::awaitable<MilterOutcome> rcpt(const std::vector<std::string>& args);
  asio::awaitable<MilterOutcome> data();
  // MESSAGE with LF line endings, the Received line on top.
  asio::awaitable<MilterMessage> message(const std::string& message);
  // The transaction ended without a message (RSET, a refusal, a new
  // MAIL): the milters hear SMFIC_ABORT before their next command.
  void abort();
  asio::awaitable<void> quit();

 private:
  struct One;
  const MilterSettings& s_;
  MilterContext& ctx_;
  std::vector<std::shared_ptr<One>> ones_;

  // Sends CMD (with its macros) to each milter that wants it and combines
  // the answers. SKIP_STEP / NO_REPLY: the SMFIP_ flags that skip the step
  // or say the milter will not answer it.
  asio::awaitable<MilterOutcome> step(char cmd, const std::string& data, uint32_t skip_step, uint32_t no_reply,
                                      const std::vector<std::pair<std::string, std::string>>& macros);
  MilterOutcome failed(One& m, const std::string& why);
  asio::awaitable<std::optional<milter::Answer>> exchange(One& one, milter::Parsed& msg, MilterMessage& res,
                                                          bool& replacing, std::string p, bool answers, bool eom);
};

}  // namespace sluice::smtpd
