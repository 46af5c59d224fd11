// key=value logging on stderr: one line per event, so multilog and
// journald collect it and one message can be followed with grep on its qid.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::log {

enum class Level { debug, info, warn, error };

// A field's value is quoted (with \" and \\ escaped) when it holds a space,
// a quote, '=' or a control character; control bytes become \xNN so a
// hostile value can never forge a second log line.
using Field = std::pair<std::string_view, std::string_view>;

void init(std::string_view program);           // once, in main()
void set_min_level(Level l);
void emit(Level l, std::initializer_list<Field> fields);
inline void info(std::initializer_list<Field> f) { emit(Level::info, f); }
inline void warn(std::initializer_list<Field> f) { emit(Level::warn, f); }
inline void error(std::initializer_list<Field> f) { emit(Level::error, f); }
inline void debug(std::initializer_list<Field> f) { emit(Level::debug, f); }

std::string quote(std::string_view v);         // exposed for tests

}  // namespace sluice::log
