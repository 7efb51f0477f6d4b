#include "judge_server/compare.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace judge {
namespace {

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string DigestHex(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(out), len));
}

}  // namespace

std::string NormalizeTrailingWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    while (!line.empty() && IsBlank(line.back())) line.remove_suffix(1);
    out.append(line);
    out.push_back('\n');
    pos = end + 1;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string_view StripTrailingWhitespace(std::string_view text) {
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

bool OutputsMatch(std::string_view actual, std::string_view expected, CompareMode mode) {
  if (mode == CompareMode::kExact) return actual == expected;
  if (mode == CompareMode::kIgnoreTrailingWhitespaceAtEnd) {
    return StripTrailingWhitespace(actual) == StripTrailingWhitespace(expected);
  }
  if (actual == expected) return true;
  return NormalizeTrailingWhitespace(actual) == NormalizeTrailingWhitespace(expected);
}

std::string StrippedOutputMd5(std::string_view output) {
  return Md5Hex(StripTrailingWhitespace(output));
}

std::string Md5Hex(std::string_view data) { return DigestHex(EVP_md5(), data); }
std::string Sha256Hex(std::string_view data) { return DigestHex(EVP_sha256(), data); }

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace judge
