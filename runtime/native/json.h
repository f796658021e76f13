// A small strict JSON reader for manifest.json on the device: a value tree, a nesting limit (a
// deeply nested file is an error, not a stack overflow) and errors as exceptions with a position.
#ifndef EDGEC_JSON_H_
#define EDGEC_JSON_H_

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace edgec_json {

struct Value {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number's digits as written
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;

  const Value* Get(const std::string& key) const {
    for (const auto& m : members)
      if (m.first == key) return &m.second;
    return nullptr;
  }
  bool IsInteger() const {
    if (kind != kNumber || text.empty()) return false;
    for (size_t i = text[0] == '-' ? 1 : 0; i < text.size(); ++i)
      if (text[i] < '0' || text[i] > '9') return false;
    return text.size() < 19;  // fits int64 without overflow checks
  }
  int64_t Integer() const { return std::strtoll(text.c_str(), nullptr, 10); }
};

class Parser {
 public:
  Parser(const std::string& s, int max_depth) : s_(s), max_depth_(max_depth) {}

  Value Document() {
    Value v = Parse(0);
    Ws();
    if (i_ != s_.size()) Fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void Fail(const std::string& why) {
    throw std::runtime_error("invalid JSON at byte " + std::to_string(i_) + ": " + why);
  }
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool Eat(char c) {
    Ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void Expect(char c) {
    if (!Eat(c)) Fail(std::string("expected '") + c + "'");
  }
  void Literal(const char* word) {
    for (const char* p = word; *p; ++p, ++i_)
      if (i_ >= s_.size() || s_[i_] != *p) Fail("bad literal");
  }
  static void Utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::string String() {
    Expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) Fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) Fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) Fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) Fail("short \\u escape");
          uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            char h = s_[i_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= h - '0';
            else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
            else Fail("bad \\u escape");
          }
          Utf8(cp, &out);  // surrogate halves pass through as-is: names here are ASCII in practice
          break;
        }
        default: Fail("bad escape");
      }
    }
  }
  Value Parse(int depth) {
    if (depth > max_depth_) Fail("nested deeper than " + std::to_string(max_depth_) + " levels");
    Ws();
    if (i_ >= s_.size()) Fail("unexpected end");
    Value v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Value::kObject;
      if (Eat('}')) return v;
      do {
        Ws();
        std::string key = String();
        Expect(':');
        v.members.emplace_back(std::move(key), Parse(depth + 1));
      } while (Eat(','));
      Expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Value::kArray;
      if (Eat(']')) return v;
      do v.items.push_back(Parse(depth + 1));
      while (Eat(','));
      Expect(']');
    } else if (c == '"') {
      v.kind = Value::kString;
      v.text = String();
    } else if (c == 't' || c == 'f') {
      v.kind = Value::kBool;
      v.boolean = c == 't';
      Literal(c == 't' ? "true" : "false");
    } else if (c == 'n') {
      Literal("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Value::kNumber;
      size_t start = i_;
      while (i_ < s_.size() && std::string("+-0123456789.eE").find(s_[i_]) != std::string::npos) ++i_;
      v.text = s_.substr(start, i_ - start);
    } else {
      Fail(std::string("unexpected character '") + c + "'");
    }
    return v;
  }

  const std::string& s_;
  size_t i_ = 0;
  int max_depth_;
};

// Parse a whole document; throws std::runtime_error when it is not JSON or nests too deeply.
inline Value Parse(const std::string& text, int max_depth = 64) { return Parser(text, max_depth).Document(); }

}  // namespace edgec_json
#endif  // EDGEC_JSON_H_
