// Pagination of the API's list answers (AIP-158) and their filters.
//
// A page token names the list, a digest of the filters it was made under, and the sort key
// of the last item it returned; the next page starts after that key. So the order is
// stable, and items made or removed between two pages neither repeat nor shift the rest. A
// token is opaque to clients (URL-safe base64); one that does not decode, belongs to another
// list, or was made under other filters is INVALID_ARGUMENT.
#ifndef CONTROLPLANE_SERVER_LISTS_H_
#define CONTROLPLANE_SERVER_LISTS_H_

#include <google/protobuf/map.h>
#include <google/protobuf/repeated_field.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "controlplane/state/state_store.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::server {

// An item's sort key: compared component by component by the list's own order.
using PageKey = std::vector<std::string>;
using KeyLess = std::function<bool(const PageKey&, const PageKey&)>;

inline constexpr int kMaxPageSize = 1000;

// 0 -> `default_size`; INVALID_ARGUMENT when negative; at most kMaxPageSize.
absl::StatusOr<int> PageSize(int32_t requested, int default_size);
std::string EncodePageToken(const std::string& list, const std::string& filters,
                            const PageKey& key);
// The key of the last item of the previous page.
absl::StatusOr<PageKey> DecodePageToken(const std::string& token, const std::string& list,
                                        const std::string& filters);
// The filters as one canonical string (for the token's digest).
std::string LabelsFilter(const google::protobuf::Map<std::string, std::string>& labels);
// Whether `labels` has every label of `filter` (an empty filter value matches any value).
bool MatchLabels(const google::protobuf::Map<std::string, std::string>& labels,
                 const google::protobuf::Map<std::string, std::string>& filter);

// Puts the page of `items` that follows `token` into `out`, and the token of the page after
// it (or "" at the end) into `next`. Sorts `items` by `less` on `key` first.
template <class T>
absl::Status TakePage(std::vector<T> items, const std::string& list, const std::string& filters,
                      int32_t page_size, int default_size, const std::string& token,
                      const std::function<PageKey(const T&)>& key, const KeyLess& less,
                      google::protobuf::RepeatedPtrField<T>* out, std::string* next) {
  auto size = PageSize(page_size, default_size);
  if (!size.ok()) return size.status();
  std::vector<std::pair<PageKey, T*>> keyed;
  keyed.reserve(items.size());
  for (auto& item : items) keyed.emplace_back(key(item), &item);
  std::stable_sort(keyed.begin(), keyed.end(),
                   [&](const auto& a, const auto& b) { return less(a.first, b.first); });
  auto begin = keyed.begin();
  if (!token.empty()) {
    auto after = DecodePageToken(token, list, filters);
    if (!after.ok()) return after.status();
    if (after->size() != key(T()).size())  // the comparisons below index every component
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: not a page token of the ", list, " list"));
    begin =
        std::upper_bound(keyed.begin(), keyed.end(), *after,
                         [&](const PageKey& k, const auto& item) { return less(k, item.first); });
  }
  const auto end = keyed.end() - begin > *size ? begin + *size : keyed.end();
  for (auto it = begin; it != end; ++it) *out->Add() = std::move(*it->second);
  next->clear();
  if (end != keyed.end() && end != begin) *next = EncodePageToken(list, filters, (end - 1)->first);
  return absl::OkStatus();
}

// Ascending on every component.
bool AscendingKeys(const PageKey& a, const PageKey& b);

// The list methods' filters and pages over what the cluster answered (in any order).
absl::Status PageNodes(const musketeer::v1::ListNodesRequest& req,
                       std::vector<musketeer::v1::Node> nodes,
                       musketeer::v1::ListNodesResponse* out);
absl::Status PageServices(const musketeer::v1::ListServicesRequest& req,
                          std::vector<musketeer::v1::Service> services,
                          musketeer::v1::ListServicesResponse* out);
absl::Status PageTasks(const musketeer::v1::ListTasksRequest& req,
                       std::vector<musketeer::v1::Task> tasks,
                       musketeer::v1::ListTasksResponse* out);
// Reads the page from the store (newest first).
absl::Status PageAudit(const musketeer::v1::ListAuditRequest& req, state::StateStore& store,
                       musketeer::v1::ListAuditResponse* out);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_LISTS_H_
