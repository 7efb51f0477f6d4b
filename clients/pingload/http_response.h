// A minimal HTTP/1.x response parser for pingload's hot path: the status, how the body is
// framed (Content-Length, chunked, until close) and whether the connection stays open.
// Everything else in the head is skipped. No allocation except for chunked bodies.
// Thread-compatible: pure functions.
#ifndef CLIENTS_PINGLOAD_HTTP_RESPONSE_H_
#define CLIENTS_PINGLOAD_HTTP_RESPONSE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace pingload {

enum class Parse { kIncomplete, kDone, kInvalid };

struct ResponseHead {
  enum class Body { kNone, kLength, kChunked, kUntilClose };
  int status = 0;
  bool keep_alive = true;
  Body body = Body::kNone;
  size_t head_bytes = 0;      // status line, headers and the blank line
  size_t content_length = 0;  // for kLength
};

// The longest response head accepted.
inline constexpr size_t kMaxHeadBytes = 64 * 1024;

// Parses the response head at the start of `data`. kIncomplete: more bytes are needed.
// kInvalid: `*error` says what was wrong. A 1xx head is kDone with Body::kNone; the caller
// skips it and parses the next head. 204 and 304 have no body.
Parse ParseHead(absl::string_view data, ResponseHead& head, absl::string_view* error);

// A chunked body starting at data[0]. On kDone, `*consumed` is its length in `data` (with
// the last chunk and trailers) and the decoded bytes were appended to `*body`. On
// kIncomplete, `*body` may hold a partial decode: clear it before calling again.
Parse ParseChunked(absl::string_view data, size_t* consumed, std::string* body,
                   absl::string_view* error);

// The string value of the "hostname" member of a JSON body, found by scanning rather than
// parsing (judge_server's /ping names it once, near the start). Empty if there is none.
// If `member_at` is given, it receives the offset of the "hostname" key in `body`.
absl::string_view HostnameIn(absl::string_view body, size_t* member_at = nullptr);

}  // namespace pingload

#endif  // CLIENTS_PINGLOAD_HTTP_RESPONSE_H_
