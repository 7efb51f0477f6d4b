// Output comparison and the digests QingdaoU's protocol uses.
#ifndef JUDGE_SERVER_COMPARE_H_
#define JUDGE_SERVER_COMPARE_H_

#include <string>
#include <string_view>

namespace judge {

enum class CompareMode {
  kExact,                     // byte for byte
  kIgnoreTrailingWhitespace,  // trailing spaces on each line and trailing blank lines
};

bool OutputsMatch(std::string_view actual, std::string_view expected, CompareMode mode);

// Each line without its trailing whitespace, and no trailing empty lines.
std::string NormalizeTrailingWhitespace(std::string_view text);

// QingdaoU's stripped_output_md5: md5 hex of the output with trailing whitespace removed.
std::string StrippedOutputMd5(std::string_view output);

std::string Md5Hex(std::string_view data);
std::string Sha256Hex(std::string_view data);

// Equality of two strings in time independent of where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace judge

#endif  // JUDGE_SERVER_COMPARE_H_
