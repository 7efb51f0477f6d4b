// Output comparison and the digests QingdaoU's protocol uses.
#ifndef JUDGE_SERVER_COMPARE_H_
#define JUDGE_SERVER_COMPARE_H_

#include <string>
#include <string_view>

namespace judge {

enum class CompareMode {
  kExact,                     // byte for byte
  kIgnoreTrailingWhitespace,  // trailing spaces on each line and trailing blank lines
  // Whitespace at the very end only, as QingdaoU compares (md5 of the output with
  // Python's bytes.rstrip()): "3 \n4" differs from "3\n4".
  kIgnoreTrailingWhitespaceAtEnd,
};

bool OutputsMatch(std::string_view actual, std::string_view expected, CompareMode mode);

// Each line without its trailing whitespace, and no trailing empty lines.
std::string NormalizeTrailingWhitespace(std::string_view text);

// `text` without the whitespace (space, \t, \n, \r, \v, \f) at its end.
std::string_view StripTrailingWhitespace(std::string_view text);

// QingdaoU's stripped_output_md5: md5 hex of the output with trailing whitespace removed.
std::string StrippedOutputMd5(std::string_view output);

std::string Md5Hex(std::string_view data);
std::string Sha256Hex(std::string_view data);

// Equality of two strings in time independent of where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace judge

#endif  // JUDGE_SERVER_COMPARE_H_
