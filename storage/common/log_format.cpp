#include "storage/common/log_format.hpp"

#include <chrono>
#include <string>

#include "storage/common/json_writer.hpp"
#include "storage/common/log_fields.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::logging {
namespace {

std::string timestamp(const spdlog::details::log_msg& msg) {
  using namespace std::chrono;
  return storage::rfc3339_ms(duration_cast<milliseconds>(msg.time.time_since_epoch()).count());
}

std::string_view level_name(const spdlog::details::log_msg& msg) {
  auto name = spdlog::level::to_string_view(msg.level);
  return {name.data(), name.size()};
}

std::string_view payload(const spdlog::details::log_msg& msg) {
  return {msg.payload.data(), msg.payload.size()};
}

std::string_view logger_name(const spdlog::details::log_msg& msg) {
  return {msg.logger_name.data(), msg.logger_name.size()};
}

class text_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "ts=" + timestamp(msg);
    line += " level=";
    line += level_name(msg);
    line += " logger=";
    append_string_value(line, logger_name(msg));
    line.push_back(' ');
    // Ours are already key=value; anything else becomes one quoted msg, so
    // every line is one line of key=value pairs.
    if (decode_fields(payload(msg)))
      line += payload(msg);
    else
      line += encode_fields(payload(msg), {});
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<text_formatter>();
  }
};

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    json::writer w;
    w.begin_object();
    w.field("ts", timestamp(msg));
    w.field("level", level_name(msg));
    w.field("logger", logger_name(msg));
    if (auto decoded = decode_fields(payload(msg))) {
      w.field("msg", decoded->message);
      for (auto& [key, value] : decoded->fields) {
        if (value.type == decoded_fields::value::kind::string)
          w.field(key, value.text);
        else
          w.field_raw(key, value.text);  // a JSON number, true or false
      }
    } else {
      w.field("msg", payload(msg));
    }
    w.end_object();
    std::string line = std::move(w).str();
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

}  // namespace

result<log_format> parse_log_format(std::string_view name) {
  if (name == "text") return log_format::text;
  if (name == "json") return log_format::json;
  return make_error(errc::invalid_argument,
                    "unknown log format \"" + std::string(name) + "\" (use text or json)");
}

std::unique_ptr<spdlog::formatter> make_formatter(log_format format) {
  if (format == log_format::json) return std::make_unique<json_formatter>();
  return std::make_unique<text_formatter>();
}

}  // namespace nullspace::logging
