#include "clients/pingload/http_response.h"

#include <strings.h>

#include <cstring>

namespace pingload {
namespace {

bool IEquals(absl::string_view a, absl::string_view lower) {
  return a.size() == lower.size() && strncasecmp(a.data(), lower.data(), a.size()) == 0;
}

absl::string_view Trim(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Does the comma-separated list `value` hold `token` (case-insensitive)?
bool HasToken(absl::string_view value, absl::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (IEquals(Trim(value.substr(0, comma)), token)) return true;
    if (comma == absl::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool LastTokenIs(absl::string_view value, absl::string_view token) {
  const size_t comma = value.rfind(',');
  return IEquals(Trim(comma == absl::string_view::npos ? value : value.substr(comma + 1)), token);
}

}  // namespace

Parse ParseHead(absl::string_view data, ResponseHead& head, absl::string_view* error) {
  const char* const begin = data.data();
  const char* const end = begin + std::min(data.size(), kMaxHeadBytes);
  // Status line: "HTTP/1.x SSS reason".
  const char* eol = static_cast<const char*>(std::memchr(begin, '\n', end - begin));
  if (eol == nullptr) {
    if (data.size() >= kMaxHeadBytes)
      return (*error = "response head over 64 KiB", Parse::kInvalid);
    // Reject garbage early rather than waiting for a newline that may never come.
    const size_t n = std::min<size_t>(data.size(), 5);
    if (std::memcmp(begin, "HTTP/", n) != 0)
      return (*error = "not an HTTP response", Parse::kInvalid);
    return Parse::kIncomplete;
  }
  if (eol - begin < 5 || std::memcmp(begin, "HTTP/", 5) != 0)
    return (*error = "not an HTTP response", Parse::kInvalid);
  if (eol - begin < 12 || std::memcmp(begin, "HTTP/1.", 7) != 0 || begin[8] != ' ' ||
      begin[9] < '1' || begin[9] > '5' || begin[10] < '0' || begin[10] > '9' || begin[11] < '0' ||
      begin[11] > '9' || (eol - begin > 12 && begin[12] != ' ' && begin[12] != '\r')) {
    return (*error = "malformed status line", Parse::kInvalid);
  }
  head.status = (begin[9] - '0') * 100 + (begin[10] - '0') * 10 + (begin[11] - '0');
  const bool http10 = begin[7] == '0';
  bool close = http10, chunked = false, have_length = false;
  size_t length = 0;
  const char* line = eol + 1;
  for (;;) {
    eol = static_cast<const char*>(std::memchr(line, '\n', end - line));
    if (eol == nullptr) {
      if (data.size() >= kMaxHeadBytes)
        return (*error = "response head over 64 KiB", Parse::kInvalid);
      return Parse::kIncomplete;
    }
    absl::string_view l(line, eol - line);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    line = eol + 1;
    if (l.empty()) break;
    const char* colon_at = static_cast<const char*>(std::memchr(l.data(), ':', l.size()));
    const size_t colon = colon_at == nullptr ? absl::string_view::npos : colon_at - l.data();
    if (colon == absl::string_view::npos || colon == 0)
      return (*error = "malformed header line", Parse::kInvalid);
    const absl::string_view name = l.substr(0, colon);
    // Only three headers matter; a length check skips the rest cheaply.
    if (name.size() == 14 && IEquals(name, "content-length")) {
      const absl::string_view v = Trim(l.substr(colon + 1));
      size_t n = 0;
      if (v.empty() || v.size() > 15) return (*error = "bad Content-Length", Parse::kInvalid);
      for (char c : v) {
        if (c < '0' || c > '9') return (*error = "bad Content-Length", Parse::kInvalid);
        n = n * 10 + (c - '0');
      }
      if (have_length && n != length)
        return (*error = "conflicting Content-Length headers", Parse::kInvalid);
      have_length = true;
      length = n;
    } else if (name.size() == 17 && IEquals(name, "transfer-encoding")) {
      chunked = LastTokenIs(l.substr(colon + 1), "chunked");
      if (!chunked) close = true;  // the body then runs until the connection closes
    } else if (name.size() == 10 && IEquals(name, "connection")) {
      const absl::string_view v = l.substr(colon + 1);
      if (HasToken(v, "close")) close = true;
      if (http10 && HasToken(v, "keep-alive")) close = false;
    }
  }
  head.head_bytes = line - begin;
  head.content_length = 0;
  if (head.status < 200 || head.status == 204 || head.status == 304) {
    head.body = ResponseHead::Body::kNone;
  } else if (chunked) {
    head.body = ResponseHead::Body::kChunked;
  } else if (have_length) {
    head.body = ResponseHead::Body::kLength;
    head.content_length = length;
  } else {
    head.body = ResponseHead::Body::kUntilClose;
    close = true;
  }
  head.keep_alive = !close;
  return Parse::kDone;
}

Parse ParseChunked(absl::string_view data, size_t* consumed, std::string* body,
                   absl::string_view* error) {
  size_t pos = 0;
  for (;;) {
    const size_t eol = data.find('\n', pos);
    if (eol == absl::string_view::npos) {
      if (data.size() - pos > 1024) return (*error = "chunk size line too long", Parse::kInvalid);
      return Parse::kIncomplete;
    }
    size_t size = 0, digits = 0;
    for (size_t i = pos; i < eol; ++i) {
      const char c = data[i];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        d = (c | 0x20) - 'a' + 10;
      } else {
        break;  // ';' extensions, '\r', spaces
      }
      if (++digits > 12) return (*error = "chunk too large", Parse::kInvalid);
      size = size * 16 + d;
    }
    if (digits == 0) return (*error = "malformed chunk size", Parse::kInvalid);
    pos = eol + 1;
    if (size == 0) {
      // Trailers, up to the blank line.
      for (;;) {
        const size_t t = data.find('\n', pos);
        if (t == absl::string_view::npos) return Parse::kIncomplete;
        const bool blank = t == pos || (t == pos + 1 && data[pos] == '\r');
        pos = t + 1;
        if (blank) {
          *consumed = pos;
          return Parse::kDone;
        }
      }
    }
    if (data.size() - pos < size + 2) return Parse::kIncomplete;
    body->append(data.data() + pos, size);
    pos += size;
    if (data[pos] == '\r') ++pos;
    if (data[pos] != '\n') return (*error = "chunk not followed by CRLF", Parse::kInvalid);
    ++pos;
  }
}

absl::string_view HostnameIn(absl::string_view body, size_t* member_at) {
  static constexpr absl::string_view kKey = "\"hostname\"";
  const void* hit = memmem(body.data(), body.size(), kKey.data(), kKey.size());
  if (hit == nullptr) return {};
  size_t i = static_cast<const char*>(hit) - body.data();
  if (member_at != nullptr) *member_at = i;
  i += kKey.size();
  while (i < body.size() && (body[i] == ' ' || body[i] == ':' || body[i] == '\t')) ++i;
  if (i >= body.size() || body[i] != '"') return {};
  const size_t start = ++i;
  while (i < body.size() && body[i] != '"') {
    if (body[i] == '\\') ++i;  // keep escapes as they are; skip the escaped quote
    ++i;
  }
  if (i >= body.size()) return {};
  return body.substr(start, i - start);
}

}  // namespace pingload
