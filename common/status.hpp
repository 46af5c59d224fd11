// Outcomes as values: a per-recipient or per-message result is a Status,
// never an exception; Result<T> carries a value or a Status.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sluice {

struct Status {
  enum class Kind { ok, temp, perm };
  Kind kind = Kind::ok;
  std::string enhanced = "2.0.0";  // RFC 3463 class.subject.detail
  std::string text;                // human text, one line

  static Status ok(std::string text = "ok", std::string enh = "2.0.0") {
    return {Kind::ok, std::move(enh), std::move(text)};
  }
  static Status temp(std::string enh, std::string text) {
    return {Kind::temp, std::move(enh), std::move(text)};
  }
  static Status perm(std::string enh, std::string text) {
    return {Kind::perm, std::move(enh), std::move(text)};
  }
  bool is_ok() const { return kind == Kind::ok; }
  bool is_temp() const { return kind == Kind::temp; }
  bool is_perm() const { return kind == Kind::perm; }
  char digit() const { return kind == Kind::ok ? '2' : kind == Kind::temp ? '4' : '5'; }
};

template <class T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}
  Result(Status s) : v_(std::move(s)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Status& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice
